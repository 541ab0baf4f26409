"""A tiny object detector, written from scratch in PyTorch, for the demo-shapes dataset.

Shared by object-detection-train.ipynb and object-detection-infer.ipynb. It needs only numpy,
torch and Pillow (no torchvision).

The detector follows CenterNet ("Objects as Points", Zhou et al., 2019): a small fully
convolutional network looks at the image and, for every cell of a grid 4 times coarser than the
image, predicts

* a heatmap per class: how likely it is that an object of that class is centred in the cell,
* the box size (width, height) of an object centred there,
* the offset of the exact centre inside the cell (the grid is coarse, the boxes are not).

A detection is a local maximum of a class heatmap; its box comes from the size and offset
predicted at that cell. No anchors, and no non-maximum suppression beyond a 3x3 max-pool.
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

STRIDE = 4  # the output grid is 4 times coarser than the image


# --------------------------------------------------------------------------------------------
# Reproducibility
# --------------------------------------------------------------------------------------------

def env_flag(name: str, default: bool) -> bool:
    """A boolean from the environment ("1", "true", "yes", "on"), or ``default`` when unset."""
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def set_determinism(seed: int, deterministic: bool = True) -> None:
    """Seed every random generator; with ``deterministic``, also make PyTorch pick
    deterministic algorithms, so two runs on the same hardware give the same weights."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # seeds the CPU and every CUDA device
    if deterministic:
        # cuBLAS needs a fixed workspace to be deterministic; it must be set before the first
        # CUDA matrix multiply, so set it here, early.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    else:
        torch.use_deterministic_algorithms(False)
        torch.backends.cudnn.deterministic = False
        torch.backends.cudnn.benchmark = True


def pick_device() -> torch.device:
    """The first GPU when PyTorch sees one, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------

@dataclass
class Split:
    """One split of a COCO-format dataset, held in memory."""

    images: np.ndarray            # (N, H, W, 3) uint8
    boxes: list[np.ndarray]       # per image, (K, 4) float32 [x, y, w, h] in pixels
    labels: list[np.ndarray]      # per image, (K,) int64 class index 0..C-1
    image_ids: list[int]          # COCO image ids
    file_names: list[str]         # paths relative to the split directory
    classes: list[str]            # class names, by class index
    category_ids: list[int]       # COCO category id, by class index

    def __len__(self) -> int:
        return len(self.images)


def load_split(root: str | os.PathLike) -> Split:
    """Read ``root/annotations.json`` and every image it lists (RGB, all the same size)."""
    root = Path(root)
    coco = json.loads((root / "annotations.json").read_text())
    categories = sorted(coco["categories"], key=lambda c: c["id"])
    class_of = {c["id"]: i for i, c in enumerate(categories)}
    per_image = {img["id"]: [] for img in coco["images"]}
    for ann in coco["annotations"]:
        if not ann.get("iscrowd", 0):
            per_image[ann["image_id"]].append(ann)
    images, boxes, labels = [], [], []
    for img in coco["images"]:
        with Image.open(root / img["file_name"]) as im:
            images.append(np.asarray(im.convert("RGB")))
        anns = per_image[img["id"]]
        boxes.append(np.array([a["bbox"] for a in anns], dtype=np.float32).reshape(-1, 4))
        labels.append(np.array([class_of[a["category_id"]] for a in anns], dtype=np.int64))
    return Split(
        images=np.stack(images),
        boxes=boxes,
        labels=labels,
        image_ids=[img["id"] for img in coco["images"]],
        file_names=[img["file_name"] for img in coco["images"]],
        classes=[c["name"] for c in categories],
        category_ids=[c["id"] for c in categories],
    )


def to_tensor(images: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, 3, H, W) float32 in [-0.5, 0.5] on ``device``."""
    x = torch.from_numpy(np.ascontiguousarray(images)).to(device)
    return x.permute(0, 3, 1, 2).float().div_(255.0).sub_(0.5)


def augment(images: np.ndarray, boxes: list[np.ndarray], rng: np.random.Generator):
    """Random flips and transposes (the 8 symmetries of a square), applied to each image and its
    boxes. None of them changes what a circle, square or triangle looks like."""
    out_images, out_boxes = [], []
    for img, bxs in zip(images, boxes):
        h, w = img.shape[:2]
        bxs = bxs.copy()
        if rng.random() < 0.5:  # mirror left-right
            img = img[:, ::-1]
            bxs[:, 0] = w - bxs[:, 0] - bxs[:, 2]
        if rng.random() < 0.5:  # mirror top-bottom
            img = img[::-1]
            bxs[:, 1] = h - bxs[:, 1] - bxs[:, 3]
        if h == w and rng.random() < 0.5:  # swap the axes
            img = img.transpose(1, 0, 2)
            bxs = bxs[:, [1, 0, 3, 2]]
        out_images.append(img)
        out_boxes.append(bxs)
    return np.stack(out_images), out_boxes


def encode_targets(boxes: list[np.ndarray], labels: list[np.ndarray], num_classes: int,
                   image_size: tuple[int, int]) -> dict[str, torch.Tensor]:
    """What the network should output for these boxes, on the STRIDE-times coarser grid.

    heatmap (N, C, h, w): a Gaussian bump of height 1 at each object's centre cell, in the
        channel of its class; sigma grows with the object's size.
    size (N, 2, h, w): (width, height) in grid cells, at centre cells only.
    offset (N, 2, h, w): the centre's position inside its cell, in [0, 1), at centre cells only.
    mask (N, 1, h, w): 1 at centre cells, where size and offset are trained.
    """
    gh, gw = image_size[0] // STRIDE, image_size[1] // STRIDE
    n = len(boxes)
    heatmap = np.zeros((n, num_classes, gh, gw), np.float32)
    size = np.zeros((n, 2, gh, gw), np.float32)
    offset = np.zeros((n, 2, gh, gw), np.float32)
    mask = np.zeros((n, 1, gh, gw), np.float32)
    ys, xs = np.mgrid[0:gh, 0:gw].astype(np.float32)
    for i, (bxs, lbls) in enumerate(zip(boxes, labels)):
        for (x, y, w, h), c in zip(bxs / STRIDE, lbls):
            cx, cy = x + w / 2, y + h / 2
            ix, iy = min(int(cx), gw - 1), min(int(cy), gh - 1)
            sigma = max(0.5, 0.15 * float(np.sqrt(w * h)))
            bump = np.exp(-((xs - ix) ** 2 + (ys - iy) ** 2) / (2 * sigma ** 2))
            np.maximum(heatmap[i, c], bump, out=heatmap[i, c])
            size[i, :, iy, ix] = (w, h)
            offset[i, :, iy, ix] = (cx - ix, cy - iy)
            mask[i, 0, iy, ix] = 1.0
    return {k: torch.from_numpy(v) for k, v in
            (("heatmap", heatmap), ("size", size), ("offset", offset), ("mask", mask))}


# --------------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------------

def conv_bn_relu(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class ShapesDetector(nn.Module):
    """A small encoder-decoder (a mini U-Net) with three CenterNet heads at stride 4.

    The encoder halves the resolution four times (to 1/16) so that each output cell sees a
    whole object; the decoder comes back up to 1/4, adding the finer encoder features on the
    way so that centres can be placed precisely.
    """

    def __init__(self, num_classes: int, width: int = 16):
        super().__init__()
        w = width
        self.num_classes = num_classes
        self.down2 = nn.Sequential(conv_bn_relu(3, w, 2), conv_bn_relu(w, w))              # 1/2
        self.down4 = nn.Sequential(conv_bn_relu(w, 2 * w, 2), conv_bn_relu(2 * w, 2 * w))  # 1/4
        self.down8 = nn.Sequential(conv_bn_relu(2 * w, 4 * w, 2), conv_bn_relu(4 * w, 4 * w))
        self.down16 = nn.Sequential(conv_bn_relu(4 * w, 4 * w, 2), conv_bn_relu(4 * w, 4 * w))
        self.up8 = conv_bn_relu(4 * w, 4 * w)
        self.up4 = conv_bn_relu(4 * w, 2 * w)
        self.lateral4 = nn.Conv2d(2 * w, 4 * w, 1)
        self.heatmap = self._head(2 * w, num_classes)
        self.size = self._head(2 * w, 2)
        self.offset = self._head(2 * w, 2)
        # Start with every cell saying "probably no object" (p = 0.1), as CenterNet does: the
        # heatmap is almost all background, and this keeps the first steps' loss sane.
        nn.init.constant_(self.heatmap[-1].bias, -2.19)

    @staticmethod
    def _head(c_in: int, c_out: int) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(c_in, c_in, 3, padding=1), nn.ReLU(inplace=True),
                             nn.Conv2d(c_in, c_out, 1))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        f4 = self.down4(self.down2(x))
        f8 = self.down8(f4)
        f16 = self.down16(f8)
        u8 = self.up8(F.interpolate(f16, scale_factor=2, mode="nearest") + f8)
        u4 = self.up4(F.interpolate(u8, scale_factor=2, mode="nearest") + self.lateral4(f4))
        return {"heatmap": self.heatmap(u4), "size": self.size(u4), "offset": self.offset(u4)}


# --------------------------------------------------------------------------------------------
# Loss
# --------------------------------------------------------------------------------------------

def detection_loss(out: dict[str, torch.Tensor], target: dict[str, torch.Tensor]):
    """CenterNet's loss: a focal loss on the heatmaps, plus L1 losses on size and offset at the
    object centres. Returns (total, parts) where parts holds each term as a float."""
    pred = out["heatmap"].sigmoid().clamp(1e-4, 1 - 1e-4)
    gt = target["heatmap"]
    pos = gt.eq(1).float()
    neg_weight = (1 - gt) ** 4  # cells near a centre are forgiven for being a bit hot
    n_obj = pos.sum().clamp(min=1)
    pos_loss = (torch.log(pred) * (1 - pred) ** 2 * pos).sum()
    neg_loss = (torch.log(1 - pred) * pred ** 2 * neg_weight * (1 - pos)).sum()
    focal = -(pos_loss + neg_loss) / n_obj
    mask = target["mask"]
    size = (F.l1_loss(out["size"], target["size"], reduction="none") * mask).sum() / n_obj
    offset = (F.l1_loss(out["offset"], target["offset"], reduction="none") * mask).sum() / n_obj
    total = focal + 0.1 * size + offset
    return total, {"heatmap": focal.item(), "size": size.item(), "offset": offset.item()}


# --------------------------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------------------------

@torch.no_grad()
def decode(out: dict[str, torch.Tensor], max_detections: int = 20, min_score: float = 0.05):
    """Turn the network's output into detections, one dict per image with numpy arrays
    ``boxes`` (K, 4) [x, y, w, h] in pixels, ``scores`` (K,) and ``labels`` (K,) class index."""
    heat = out["heatmap"].sigmoid()
    n, c, h, w = heat.shape
    peaks = heat * (F.max_pool2d(heat, 3, stride=1, padding=1) == heat)  # keep local maxima
    scores, idx = peaks.reshape(n, -1).topk(min(max_detections, c * h * w))
    labels = idx // (h * w)
    cell = idx % (h * w)
    iy, ix = (cell // w).float(), (cell % w).float()
    size = out["size"].reshape(n, 2, -1).gather(2, cell.unsqueeze(1).expand(n, 2, -1))
    offset = out["offset"].reshape(n, 2, -1).gather(2, cell.unsqueeze(1).expand(n, 2, -1))
    cx, cy = (ix + offset[:, 0]) * STRIDE, (iy + offset[:, 1]) * STRIDE
    bw, bh = size[:, 0].clamp(min=0) * STRIDE, size[:, 1].clamp(min=0) * STRIDE
    boxes = torch.stack([cx - bw / 2, cy - bh / 2, bw, bh], dim=-1)
    results = []
    for i in range(n):
        keep = scores[i] >= min_score
        results.append({
            "boxes": boxes[i][keep].cpu().numpy(),
            "scores": scores[i][keep].cpu().numpy(),
            "labels": labels[i][keep].cpu().numpy(),
        })
    return results


@torch.no_grad()
def detect(model: nn.Module, images: np.ndarray, device: torch.device | str = "cpu",
           batch_size: int = 64, **decode_args) -> list[dict]:
    """Run ``model`` on (N, H, W, 3) uint8 images and decode its output."""
    model.eval()
    results = []
    for start in range(0, len(images), batch_size):
        out = model(to_tensor(images[start:start + batch_size], device))
        results.extend(decode(out, **decode_args))
    return results


# --------------------------------------------------------------------------------------------
# Evaluation: average precision at IoU 0.5, as COCO computes it
# --------------------------------------------------------------------------------------------

def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in ``a`` (M, 4) with every box in ``b`` (N, 4), both [x, y, w, h]."""
    ax0, ay0, ax1, ay1 = a[:, 0], a[:, 1], a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    bx0, by0, bx1, by1 = b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.clip(np.minimum(ax1[:, None], bx1) - np.maximum(ax0[:, None], bx0), 0, None)
    ih = np.clip(np.minimum(ay1[:, None], by1) - np.maximum(ay0[:, None], by0), 0, None)
    inter = iw * ih
    union = (a[:, 2] * a[:, 3])[:, None] + b[:, 2] * b[:, 3] - inter
    return inter / np.maximum(union, 1e-9)


def average_precision(detections: list[dict], gt_boxes: list[np.ndarray],
                      gt_labels: list[np.ndarray], num_classes: int,
                      iou_threshold: float = 0.5) -> np.ndarray:
    """Per-class AP at one IoU threshold, the way COCO computes it.

    For each class, detections from all images are sorted by score, best first. Each one is a
    true positive when it overlaps a not-yet-matched ground-truth box of its class and image
    with IoU >= ``iou_threshold`` (it takes the best-overlapping one), else a false positive.
    AP is the area under the precision-recall curve, with precision made non-increasing and
    sampled at the 101 recall points 0, 0.01, ..., 1. Classes with no ground truth get NaN.
    """
    ap = np.full(num_classes, np.nan)
    for c in range(num_classes):
        scores, matched = [], []
        n_gt = 0
        for det, boxes, labels in zip(detections, gt_boxes, gt_labels):
            gts = boxes[labels == c]
            n_gt += len(gts)
            d = det["labels"] == c
            d_boxes, d_scores = det["boxes"][d], det["scores"][d]
            order = np.argsort(-d_scores, kind="stable")
            taken = np.zeros(len(gts), bool)
            ious = box_iou(d_boxes[order], gts) if len(gts) else np.zeros((len(order), 0))
            for k, j in enumerate(order):
                hit = False
                if len(gts):
                    candidates = np.where(taken, -1.0, ious[k])
                    best = int(candidates.argmax())
                    if candidates[best] >= iou_threshold:
                        taken[best] = hit = True
                scores.append(d_scores[j])
                matched.append(hit)
        if n_gt == 0:
            continue
        order = np.argsort(-np.array(scores), kind="stable")
        tp = np.array(matched, dtype=float)[order]
        tp_cum, fp_cum = np.cumsum(tp), np.cumsum(1 - tp)
        recall = tp_cum / n_gt
        precision = tp_cum / np.maximum(tp_cum + fp_cum, 1e-9)
        precision = np.maximum.accumulate(precision[::-1])[::-1]  # make it non-increasing
        points = np.linspace(0, 1, 101)
        at = np.searchsorted(recall, points, side="left")
        ap[c] = float(np.mean([precision[i] if i < len(precision) else 0.0 for i in at]))
    return ap
