"""Run the object-detection demo notebooks headless and report their time and accuracy.

Generates the demo-shapes dataset in a temporary directory, executes
images/demos/object-detection-train.ipynb and then object-detection-infer.ipynb with nbclient
(kernel python3) against it, with a temporary model directory, and prints a table: train and
infer wall time (kernel start included), training time, final loss, mAP@0.5 and per-class AP.

    python benchmarks/demo_notebooks.py [--epochs N] [--train 600] [--test 100]
                                        [--demos DIR] [--executed DIR] [--no-write]

Needs only numpy, Pillow, torch, matplotlib, nbclient and ipykernel (no installed
workspace_launcher: the generator is imported from this checkout), so it also runs inside a
PyTorch workspace container. Writes benchmarks/results/demo.md and demo.json unless --no-write.
Exits 1 when the mAP is below --min-map (default 0.5).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"
sys.path.insert(0, str(REPO))

import nbformat
from nbclient import NotebookClient

from workspace_launcher.demo.data import create_demo_dataset


def run_notebook(path: Path, cwd: Path, timeout: int, executed_dir: Path | None) -> float:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(cwd)}})
    started = time.perf_counter()
    try:
        client.execute()
    finally:
        if executed_dir is not None:
            executed_dir.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, executed_dir / path.name)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--demos", type=Path, default=REPO / "images" / "demos",
                        help="folder with the notebooks and shapes_detector.py")
    parser.add_argument("--train", type=int, default=600, help="training images to generate")
    parser.add_argument("--test", type=int, default=100, help="test images to generate")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=None,
                        help="passed as DEMO_EPOCHS (default: the notebook's own)")
    parser.add_argument("--timeout", type=int, default=900, help="per-cell timeout, seconds")
    parser.add_argument("--executed", type=Path, default=None,
                        help="also save the executed notebooks (with outputs) here")
    parser.add_argument("--min-map", type=float, default=0.5)
    parser.add_argument("--no-write", action="store_true", help="do not write benchmarks/results")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="demo-bench-") as tmp:
        tmp = Path(tmp)
        started = time.perf_counter()
        summary = create_demo_dataset(tmp / "demo-shapes", train=args.train, test=args.test,
                                      seed=args.seed)
        gen_seconds = time.perf_counter() - started
        model_dir = tmp / "models" / "shapes-detector"
        os.environ["DEMO_DATASET"] = str(tmp / "demo-shapes")
        os.environ["DEMO_MODEL_DIR"] = str(model_dir)
        if args.epochs is not None:
            os.environ["DEMO_EPOCHS"] = str(args.epochs)
        os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")

        train_wall = run_notebook(args.demos / "object-detection-train.ipynb", args.demos,
                                  args.timeout, args.executed)
        infer_wall = run_notebook(args.demos / "object-detection-infer.ipynb", args.demos,
                                  args.timeout, args.executed)
        metadata = json.loads((model_dir / "metadata.json").read_text())
        evaluation = json.loads((model_dir / "eval.json").read_text())

    import torch  # the same torch the kernel used, when the kernel runs this Python

    result = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "host": platform.node(),
        "cpus": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "device": metadata["device"],
        "dataset": {"train": args.train, "test": args.test, "seed": args.seed,
                    "objects": {k: v["annotations"] for k, v in summary["splits"].items()},
                    "generate_seconds": round(gen_seconds, 2)},
        "epochs": metadata["epochs"],
        "deterministic": metadata["deterministic"],
        "train_notebook_seconds": round(train_wall, 2),
        "training_seconds": metadata["training_seconds"],
        "infer_notebook_seconds": round(infer_wall, 2),
        "final_loss": round(metadata["final_loss"], 4),
        "mAP@0.5": round(evaluation["mAP"], 4),
        "per_class_AP@0.5": {k: round(v, 4) for k, v in evaluation["per_class_AP"].items()},
        "mAP@0.75": round(evaluation["mAP@0.75"], 4),
    }
    text = render(result)
    print(text)
    if not args.no_write:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "demo.md").write_text(text + "\n")
        (RESULTS / "demo.json").write_text(json.dumps(result, indent=2) + "\n")
    if result["mAP@0.5"] < args.min_map:
        print(f"FAIL: mAP@0.5 {result['mAP@0.5']:.3f} is below {args.min_map}", file=sys.stderr)
        return 1
    return 0


def render(r: dict) -> str:
    d = r["dataset"]
    rows = [
        ("dataset generation", f"{d['generate_seconds']:.1f} s ({d['train']} train + {d['test']} test images)"),
        ("train notebook (wall, kernel start included)", f"{r['train_notebook_seconds']:.1f} s"),
        ("  of which training loop", f"{r['training_seconds']:.1f} s ({r['epochs']} epochs)"),
        ("infer notebook (wall, kernel start included)", f"{r['infer_notebook_seconds']:.1f} s"),
        ("both notebooks", f"{r['train_notebook_seconds'] + r['infer_notebook_seconds']:.1f} s"),
        ("final training loss", f"{r['final_loss']:.4f}"),
        ("**mAP@0.5** (test split)", f"**{r['mAP@0.5']:.3f}**"),
    ]
    rows += [(f"  AP@0.5 {name}", f"{ap:.3f}") for name, ap in r["per_class_AP@0.5"].items()]
    rows.append(("mAP@0.75 (for information)", f"{r['mAP@0.75']:.3f}"))
    lines = [
        "# Object-detection demo notebooks, headless",
        "",
        (f"{r['date']}, {r['host']}, {r['cpus']} CPUs, Python {r['python']}, "
         f"torch {r['torch']}, device {r['device']}, deterministic={r['deterministic']}"),
        "",
        "| step | result |",
        "|---|---:|",
        *(f"| {k} | {v} |" for k, v in rows),
        "",
        ("Made by `python benchmarks/demo_notebooks.py`; the goal is mAP@0.5 >= 0.5 and both "
         "notebooks within 3-4 minutes on 2 CPU cores."),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
