"""A small synthetic object-detection dataset ("demo-shapes") for the demo notebooks.

Each image is a lightly noisy, plain-coloured background with 1 to 4 coloured shapes (circle,
square, triangle) of random size, colour and position. Colour says nothing about the class, so a
detector has to learn the shapes. Boxes do not overlap, and each box is the tight box of the
shape's drawn pixels. Labels are written in COCO format:

    DEST/
      README.txt
      train/annotations.json   train/images/000000.png ...
      test/annotations.json    test/images/000000.png ...

The output depends only on the arguments (and the Pillow/NumPy versions that encode the PNGs):
the same seed gives the same images and boxes. Generating the default 600 + 100 images takes a
couple of seconds.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from workspace_launcher.errors import Conflict, InvalidRequest

CLASSES = ("circle", "square", "triangle")
DEFAULT_TRAIN = 600
DEFAULT_TEST = 100
DEFAULT_IMAGE_SIZE = 128
MAX_OBJECTS = 4
MIN_SIDE_FRACTION = 0.12  # shapes are 12% to 30% of the image side
MAX_SIDE_FRACTION = 0.30
MIN_CONTRAST = 90  # least summed RGB distance between a shape's colour and the background


class DemoDataError(Conflict):
    """The dataset cannot be written where asked (for example, the directory holds files)."""


def create_demo_dataset(
    dest: str | os.PathLike,
    *,
    train: int = DEFAULT_TRAIN,
    test: int = DEFAULT_TEST,
    seed: int = 0,
    image_size: int = DEFAULT_IMAGE_SIZE,
    overwrite: bool = False,
) -> dict:
    """Write the synthetic shapes dataset under ``dest`` and return a summary of it.

    ``dest`` may be missing or an empty directory. A directory with anything in it is refused
    unless ``overwrite`` is true, in which case only the dataset's own entries (``train/``,
    ``test/``, ``README.txt``) are replaced and nothing else in it is touched.
    """
    dest = Path(dest)
    if train < 1 or test < 1:
        raise InvalidRequest("the train and test splits need at least 1 image each", field="train")
    if not (64 <= image_size <= 1024 and image_size % 16 == 0):
        # The demo detector halves the resolution four times, hence the multiple of 16.
        raise InvalidRequest(
            f"image_size must be a multiple of 16 from 64 to 1024 pixels, not {image_size}",
            field="image_size",
        )
    if dest.exists() and not dest.is_dir():
        raise DemoDataError(f"{dest} exists and is not a directory")
    if dest.is_dir() and any(dest.iterdir()):
        if not overwrite:
            raise DemoDataError(
                f"{dest} is not empty; choose an empty or new directory (or pass overwrite=True "
                "to replace the dataset's train/, test/ and README.txt in it)"
            )
        for name in ("train", "test"):
            if (dest / name).is_dir() and not (dest / name).is_symlink():
                shutil.rmtree(dest / name)
            elif (dest / name).exists() or (dest / name).is_symlink():
                (dest / name).unlink()
        (dest / "README.txt").unlink(missing_ok=True)
    dest.mkdir(parents=True, exist_ok=True)

    started = time.perf_counter()
    train_seq, test_seq = np.random.SeedSequence(seed).spawn(2)
    splits = {}
    for split, count, seq in (("train", train, train_seq), ("test", test, test_seq)):
        splits[split] = _write_split(dest / split, count, np.random.default_rng(seq), image_size)
    summary = {
        "path": str(dest),
        "classes": list(CLASSES),
        "image_size": image_size,
        "seed": seed,
        "splits": splits,
        "seconds": round(time.perf_counter() - started, 3),
    }
    (dest / "README.txt").write_text(_readme(summary))
    return summary


def _write_split(root: Path, count: int, rng: np.random.Generator, size: int) -> dict:
    (root / "images").mkdir(parents=True)
    images, annotations = [], []
    per_class = dict.fromkeys(CLASSES, 0)
    for image_id in range(1, count + 1):
        file_name = f"images/{image_id - 1:06d}.png"
        pixels, objects = _render_image(rng, size)
        Image.fromarray(pixels).save(root / file_name, compress_level=1)
        images.append({"id": image_id, "file_name": file_name, "width": size, "height": size})
        for category_id, bbox, area in objects:
            annotations.append({
                "id": len(annotations) + 1,
                "image_id": image_id,
                "category_id": category_id,
                "bbox": bbox,
                "area": area,
                "iscrowd": 0,
            })
            per_class[CLASSES[category_id - 1]] += 1
    coco = {
        "info": {"description": "workspace-launcher synthetic shapes (demo-shapes)", "version": "1"},
        "images": images,
        "annotations": annotations,
        "categories": [
            {"id": i + 1, "name": name, "supercategory": "shape"} for i, name in enumerate(CLASSES)
        ],
    }
    (root / "annotations.json").write_text(json.dumps(coco, separators=(",", ":")))
    return {"images": count, "annotations": len(annotations), "per_class": per_class}


def _render_image(rng: np.random.Generator, size: int):
    """One image as an (H, W, 3) uint8 array, and its objects as (category_id, bbox, area)."""
    background = rng.integers(40, 216, size=3)
    noise_sigma = rng.uniform(0.0, 8.0)
    canvas = Image.new("RGB", (size, size), tuple(int(c) for c in background))
    placed: list[tuple[int, int, int, int]] = []  # x0, y0, x1, y1 (exclusive), with a margin
    objects = []
    for _ in range(int(rng.integers(1, MAX_OBJECTS + 1))):
        for _attempt in range(30):
            category_id = int(rng.integers(1, len(CLASSES) + 1))
            side = int(rng.integers(round(MIN_SIDE_FRACTION * size), round(MAX_SIDE_FRACTION * size) + 1))
            x0 = int(rng.integers(1, size - side))
            y0 = int(rng.integers(1, size - side))
            box = (x0 - 2, y0 - 2, x0 + side + 2, y0 + side + 2)
            if any(_intersects(box, other) for other in placed):
                continue
            colour = _contrasting_colour(rng, background)
            mask = Image.new("L", (size, size), 0)
            _draw_shape(ImageDraw.Draw(mask), CLASSES[category_id - 1], x0, y0, side, rng, fill=255)
            canvas.paste(colour, mask=mask)
            ys, xs = np.nonzero(np.asarray(mask))
            bx, by = int(xs.min()), int(ys.min())
            bbox = [bx, by, int(xs.max()) + 1 - bx, int(ys.max()) + 1 - by]
            objects.append((category_id, bbox, int(xs.size)))
            placed.append(box)
            break
    pixels = np.asarray(canvas, dtype=np.float32)
    if noise_sigma > 0.5:
        pixels = pixels + rng.normal(0.0, noise_sigma, size=pixels.shape).astype(np.float32)
    return np.clip(pixels, 0, 255).round().astype(np.uint8), objects


def _draw_shape(draw: ImageDraw.ImageDraw, kind: str, x0: int, y0: int, side: int,
                rng: np.random.Generator, fill: int) -> None:
    x1, y1 = x0 + side - 1, y0 + side - 1
    if kind == "circle":
        draw.ellipse((x0, y0, x1, y1), fill=fill)
    elif kind == "square":
        draw.rectangle((x0, y0, x1, y1), fill=fill)
    else:  # triangle: one edge along a side of the square, the apex on the opposite side
        t = float(rng.uniform(0.2, 0.8))
        apex = x0 + t * (x1 - x0)
        orientation = int(rng.integers(4))
        if orientation == 0:  # pointing up
            points = [(apex, y0), (x0, y1), (x1, y1)]
        elif orientation == 1:  # pointing down
            points = [(apex, y1), (x0, y0), (x1, y0)]
        elif orientation == 2:  # pointing left
            apex = y0 + t * (y1 - y0)
            points = [(x0, apex), (x1, y0), (x1, y1)]
        else:  # pointing right
            apex = y0 + t * (y1 - y0)
            points = [(x1, apex), (x0, y0), (x0, y1)]
        draw.polygon(points, fill=fill)


def _contrasting_colour(rng: np.random.Generator, background: np.ndarray) -> tuple[int, int, int]:
    while True:
        colour = rng.integers(0, 256, size=3)
        if int(np.abs(colour - background).sum()) >= MIN_CONTRAST:
            return tuple(int(c) for c in colour)


def _intersects(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _readme(summary: dict) -> str:
    train, test = summary["splits"]["train"], summary["splits"]["test"]
    size = summary["image_size"]
    return f"""demo-shapes: a synthetic object-detection dataset
===================================================

Made by workspace-launcher (workspace_launcher.demo.data.create_demo_dataset) with seed
{summary["seed"]}. Nothing in it comes from real photographs; it exists so the demo notebooks can
train and evaluate a detector in a minute or two on a CPU.

Images: {size}x{size} RGB PNG. A plain background of a random colour with light Gaussian noise,
and 1 to {MAX_OBJECTS} shapes each of a random colour that contrasts with the background. Colour is
independent of the class: the shape is what tells the classes apart. Shapes are
{round(MIN_SIDE_FRACTION * size)} to {round(MAX_SIDE_FRACTION * size)} pixels across and do not overlap.
Triangles point up, down, left or right, with the apex anywhere along the middle of that side.

Classes (COCO category_id: name): {", ".join(f"{i + 1}: {c}" for i, c in enumerate(CLASSES))}

Layout:
  train/images/*.png, train/annotations.json   {train["images"]} images, {train["annotations"]} objects
  test/images/*.png,  test/annotations.json    {test["images"]} images, {test["annotations"]} objects

Objects per class: train {_counts(train)}; test {_counts(test)}.

annotations.json is COCO object-detection format: "images" (id, file_name relative to the split
directory, width, height), "annotations" (id, image_id, category_id, bbox as [x, y, width, height]
in pixels with the origin at the top-left corner, area = number of pixels of the shape, iscrowd =
0) and "categories" (id, name). Each bbox is the tight box around the shape's pixels.
"""


def _counts(split: dict) -> str:
    return ", ".join(f"{name} {n}" for name, n in split["per_class"].items())
