"""The synthetic demo-shapes dataset: valid COCO, deterministic, fast, and never clobbers data."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from PIL import Image

from workspace_launcher.demo.data import (
    CLASSES,
    DEFAULT_IMAGE_SIZE,
    DEFAULT_TEST,
    DEFAULT_TRAIN,
    MAX_OBJECTS,
    DemoDataError,
    create_demo_dataset,
)
from workspace_launcher.errors import InvalidRequest


def load(root, split):
    return json.loads((root / split / "annotations.json").read_text())


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    dest = tmp_path_factory.mktemp("shapes") / "demo-shapes"
    summary = create_demo_dataset(dest, train=40, test=12, seed=3, image_size=96)
    return dest, summary


def test_layout_and_summary(small):
    dest, summary = small
    assert sorted(p.name for p in dest.iterdir()) == ["README.txt", "test", "train"]
    assert summary["classes"] == list(CLASSES)
    assert summary["image_size"] == 96 and summary["seed"] == 3
    for split, count in (("train", 40), ("test", 12)):
        coco = load(dest, split)
        assert len(coco["images"]) == count == summary["splits"][split]["images"]
        assert len(coco["annotations"]) == summary["splits"][split]["annotations"]
        assert sum(summary["splits"][split]["per_class"].values()) == len(coco["annotations"])
        assert len(list((dest / split / "images").glob("*.png"))) == count
    readme = (dest / "README.txt").read_text()
    assert "COCO" in readme and "circle" in readme and "40 images" in readme


@pytest.mark.parametrize("split", ["train", "test"])
def test_coco_annotations_are_valid(small, split):
    dest, _ = small
    coco = load(dest, split)
    categories = {c["id"]: c["name"] for c in coco["categories"]}
    assert sorted(categories.values()) == sorted(CLASSES)
    images = {img["id"]: img for img in coco["images"]}
    assert len(images) == len(coco["images"])
    for img in coco["images"]:
        with Image.open(dest / split / img["file_name"]) as im:
            assert im.format == "PNG" and im.mode == "RGB"
            assert im.size == (img["width"], img["height"]) == (96, 96)

    ann_ids = [a["id"] for a in coco["annotations"]]
    assert len(set(ann_ids)) == len(ann_ids)
    per_image = {i: [] for i in images}
    for ann in coco["annotations"]:
        assert set(ann) == {"id", "image_id", "category_id", "bbox", "area", "iscrowd"}
        assert ann["image_id"] in images
        assert ann["category_id"] in categories
        assert ann["iscrowd"] == 0
        x, y, w, h = ann["bbox"]
        img = images[ann["image_id"]]
        assert w > 0 and h > 0
        assert 0 <= x and 0 <= y and x + w <= img["width"] and y + h <= img["height"]
        assert 0 < ann["area"] <= w * h
        per_image[ann["image_id"]].append(ann["bbox"])

    for boxes in per_image.values():
        assert 1 <= len(boxes) <= MAX_OBJECTS
        for i, (ax, ay, aw, ah) in enumerate(boxes):  # shapes do not overlap
            for bx, by, bw, bh in boxes[i + 1:]:
                assert ax + aw <= bx or bx + bw <= ax or ay + ah <= by or by + bh <= ay


def test_boxes_are_tight_around_the_shapes(tmp_path):
    """Each box's border rows and columns hold shape pixels that differ from the background."""
    create_demo_dataset(tmp_path / "d", train=8, test=1, seed=1, image_size=64)
    coco = load(tmp_path / "d", "train")
    for img in coco["images"]:
        pixels = np.asarray(Image.open(tmp_path / "d" / "train" / img["file_name"])).astype(int)
        background = np.median(pixels.reshape(-1, 3), axis=0)
        differs = np.abs(pixels - background).sum(axis=2) > 45
        for ann in (a for a in coco["annotations"] if a["image_id"] == img["id"]):
            x, y, w, h = ann["bbox"]
            inside = differs[y:y + h, x:x + w]
            assert inside[0].any() and inside[-1].any() and inside[:, 0].any() and inside[:, -1].any()


def test_every_class_appears(small):
    _, summary = small
    assert all(n > 0 for n in summary["splits"]["train"]["per_class"].values())


def test_same_seed_same_dataset_other_seed_differs(tmp_path):
    a = create_demo_dataset(tmp_path / "a", train=6, test=2, seed=7, image_size=64)
    b = create_demo_dataset(tmp_path / "b", train=6, test=2, seed=7, image_size=64)
    c = create_demo_dataset(tmp_path / "c", train=6, test=2, seed=8, image_size=64)
    assert a["splits"] == b["splits"]
    for split in ("train", "test"):
        assert load(tmp_path / "a", split) == load(tmp_path / "b", split)
        for img in load(tmp_path / "a", split)["images"]:
            pa = np.asarray(Image.open(tmp_path / "a" / split / img["file_name"]))
            pb = np.asarray(Image.open(tmp_path / "b" / split / img["file_name"]))
            assert np.array_equal(pa, pb)
    assert load(tmp_path / "a", "train")["annotations"] != load(tmp_path / "c", "train")["annotations"]
    assert c["seed"] == 8


def test_test_split_does_not_depend_on_train_size(tmp_path):
    create_demo_dataset(tmp_path / "a", train=3, test=4, seed=0, image_size=64)
    create_demo_dataset(tmp_path / "b", train=9, test=4, seed=0, image_size=64)
    assert load(tmp_path / "a", "test") == load(tmp_path / "b", "test")


def test_refuses_a_non_empty_directory(tmp_path):
    dest = tmp_path / "mine"
    dest.mkdir()
    (dest / "thesis.tex").write_text("years of work")
    with pytest.raises(DemoDataError, match="not empty"):
        create_demo_dataset(dest, train=2, test=1, image_size=64)
    assert [p.name for p in dest.iterdir()] == ["thesis.tex"]
    assert (dest / "thesis.tex").read_text() == "years of work"


def test_refuses_to_regenerate_without_overwrite(tmp_path):
    create_demo_dataset(tmp_path / "d", train=2, test=1, image_size=64)
    before = load(tmp_path / "d", "train")
    with pytest.raises(DemoDataError):
        create_demo_dataset(tmp_path / "d", train=5, test=1, seed=1, image_size=64)
    assert load(tmp_path / "d", "train") == before


def test_overwrite_replaces_only_the_dataset(tmp_path):
    dest = tmp_path / "d"
    create_demo_dataset(dest, train=5, test=2, image_size=64)
    (dest / "notes.md").write_text("keep me")
    summary = create_demo_dataset(dest, train=3, test=1, seed=2, image_size=64, overwrite=True)
    assert summary["splits"]["train"]["images"] == 3
    assert len(list((dest / "train" / "images").iterdir())) == 3
    assert len(load(dest, "train")["images"]) == 3
    assert (dest / "notes.md").read_text() == "keep me"


def test_empty_or_missing_directory_is_fine(tmp_path):
    (tmp_path / "empty").mkdir()
    create_demo_dataset(tmp_path / "empty", train=1, test=1, image_size=64)
    create_demo_dataset(tmp_path / "new" / "nested", train=1, test=1, image_size=64)
    assert (tmp_path / "new" / "nested" / "train" / "annotations.json").is_file()


def test_refuses_a_file_and_bad_arguments(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(DemoDataError, match="not a directory"):
        create_demo_dataset(tmp_path / "file", train=1, test=1)
    for kwargs in ({"train": 0}, {"test": 0}, {"image_size": 100}, {"image_size": 32}):
        with pytest.raises(InvalidRequest):
            create_demo_dataset(tmp_path / "bad", **{"train": 1, "test": 1, **kwargs})
    assert not (tmp_path / "bad").exists()


def test_default_dataset_is_fast(tmp_path):
    started = time.perf_counter()
    summary = create_demo_dataset(tmp_path / "demo-shapes")
    elapsed = time.perf_counter() - started
    assert summary["image_size"] == DEFAULT_IMAGE_SIZE
    assert summary["splits"]["train"]["images"] == DEFAULT_TRAIN
    assert summary["splits"]["test"]["images"] == DEFAULT_TEST
    assert elapsed < 30, f"generating the default dataset took {elapsed:.1f} s"
