"""YOLO object detection in OpenCV's DNN module (darknet cfg + weights, or ONNX).

The default model is Yolo-Fastest-1.1-XL (COCO, 80 classes, ~20 ms per image
at 320x320 on one CPU core). Any darknet cfg/weights pair (yolov4-tiny,
yolov4...) or a YOLO ONNX export (YOLOv5-style ``(1, N, 5+C)`` with an
objectness column, YOLOv8-style ``(1, 4+C, N)`` without) works by
configuration. OpenCV 5 dropped the darknet importer: use opencv 4.x for
darknet files, or an ONNX export.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from navee_monitor.detect.base import Region
from navee_monitor.detect.boxes import clip_box
from navee_monitor.errors import ModelError

log = logging.getLogger(__name__)

ResizeMode = Literal["auto", "stretch", "letterbox"]


@dataclass(frozen=True)
class Letterbox:
    """How the image was mapped into the square network input (to map boxes back)."""

    scale_x: float
    scale_y: float
    pad_x: float
    pad_y: float


def read_class_names(path: Path) -> list[str]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ModelError(f"cannot read YOLO class names {path}: {exc.strerror or exc}") from exc
    names = [line.strip() for line in text.splitlines() if line.strip()]
    if not names:
        raise ModelError(f"YOLO class names file {path} is empty")
    return names


def darknet_uses_letterbox(cfg: Path) -> bool:
    """Darknet stretches the image to the input size unless ``[net]`` sets ``letter_box=1``."""
    in_net = False
    for line in Path(cfg).read_text(encoding="utf-8", errors="replace").splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("["):
            if in_net:
                break
            in_net = line == "[net]"
        elif in_net and "=" in line:
            key, value = (p.strip() for p in line.split("=", 1))
            if key == "letter_box":
                return value == "1"
    return False


def prepare_input(rgb: np.ndarray, size: int, letterbox: bool) -> tuple[np.ndarray, Letterbox]:
    """RGB uint8 -> NCHW float blob in [0, 1] plus the mapping back to image pixels."""
    h, w = rgb.shape[:2]
    if not letterbox:
        blob = cv2.dnn.blobFromImage(rgb, 1 / 255.0, (size, size), swapRB=False, crop=False)
        return blob, Letterbox(size / w, size / h, 0.0, 0.0)
    scale = size / max(h, w)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    canvas = np.full((size, size, 3), 127, np.uint8)  # darknet pads with 0.5 grey
    px, py = (size - nw) // 2, (size - nh) // 2
    canvas[py : py + nh, px : px + nw] = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_LINEAR)
    blob = cv2.dnn.blobFromImage(canvas, 1 / 255.0, (size, size), swapRB=False, crop=False)
    return blob, Letterbox(scale, scale, float(px), float(py))


def parse_outputs(
    outputs: list[np.ndarray],
    n_classes: int,
    input_size: int,
    objectness_applied: bool,
    normalized: bool | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Network outputs -> (boxes cx,cy,w,h in input pixels (n,4), confidences (n,), class ids (n,)).

    Darknet ``[yolo]`` layers in OpenCV give rows ``cx, cy, w, h, objectness,
    class scores...`` in [0, 1] coordinates with the class scores already
    multiplied by the objectness (``objectness_applied``). ONNX exports give
    input-pixel coordinates; YOLOv5-style rows carry an objectness column to
    multiply in, YOLOv8-style outputs are transposed and have none.
    ``normalized`` says whether coordinates are in [0, 1] (darknet) or input
    pixels; None guesses from the box centres (ONNX exports differ).
    """
    boxes, confs, ids = [], [], []
    for out in outputs:
        a = np.asarray(out, dtype=np.float32)
        if a.ndim == 3:  # (1, rows, cols) or (1, cols, rows)
            a = a[0]
            if a.shape[0] in (4 + n_classes, 5 + n_classes) and a.shape[1] > a.shape[0]:
                a = a.T  # YOLOv8 layout (1, 84, N)
        a = a.reshape(-1, a.shape[-1])
        cols = a.shape[1]
        if cols == 5 + n_classes:
            scores = a[:, 5:]
            if not objectness_applied:
                scores = scores * a[:, 4:5]
        elif cols == 4 + n_classes:
            scores = a[:, 4:]
        else:
            raise ModelError(
                f"YOLO output has {cols} columns per row; expected {5 + n_classes} or {4 + n_classes} "
                f"for {n_classes} classes (does the names file match the model?)"
            )
        xywh = a[:, :4].copy()
        is_normalized = normalized
        if is_normalized is None:  # centres of real boxes lie inside the input
            is_normalized = not len(xywh) or float(np.percentile(np.abs(xywh[:, :2]), 95)) <= 1.5
        if is_normalized:
            xywh *= input_size
        cls = scores.argmax(axis=1)
        boxes.append(xywh)
        confs.append(scores[np.arange(len(cls)), cls])
        ids.append(cls)
    if not boxes:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64)
    return np.concatenate(boxes), np.concatenate(confs), np.concatenate(ids)


class YoloDetector:
    """COCO objects as crops: ``propose(rgb) -> list[Region]`` (label = class name), best first."""

    def __init__(
        self,
        weights: str | Path,
        names: str | Path,
        cfg: str | Path | None = None,
        *,
        model_format: Literal["darknet", "onnx"] = "darknet",
        input_size: int = 320,
        confidence: float = 0.25,
        nms: float = 0.45,
        resize: ResizeMode = "auto",
    ) -> None:
        self.format = model_format
        self.input_size = int(input_size)
        self.confidence = float(confidence)
        self.nms = float(nms)
        self.class_names = read_class_names(Path(names))
        self._net = self._load(cfg, weights)
        if resize == "auto":
            self.letterbox = darknet_uses_letterbox(Path(cfg)) if model_format == "darknet" else True
        else:
            self.letterbox = resize == "letterbox"
        self._out_names = list(self._net.getUnconnectedOutLayersNames())
        # a cv2.dnn.Net is not safe to run from two threads at once
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, detector, files) -> YoloDetector:
        """``detector``: DetectorSettings; ``files``: resolved :class:`DetectorFiles`."""
        return cls(
            files.weights,
            files.names,
            files.cfg,
            model_format=detector.format,
            input_size=detector.input_size,
            confidence=detector.confidence,
            nms=detector.nms,
            resize=detector.resize,
        )

    def _load(self, cfg, weights) -> cv2.dnn.Net:
        try:
            if self.format == "darknet":
                if cfg is None:
                    raise ModelError("a darknet YOLO model needs detector.cfg as well as detector.weights")
                net = cv2.dnn.readNetFromDarknet(str(cfg), str(weights))
            else:
                net = cv2.dnn.readNetFromONNX(str(weights))
        except cv2.error as exc:
            raise ModelError(
                f"OpenCV cannot load the {self.format} YOLO model {weights}: {str(exc).strip().splitlines()[-1]} "
                "(damaged file? darknet needs opencv 4.x)"
            ) from exc
        if net.empty():
            raise ModelError(f"OpenCV loaded an empty network from {weights}")
        if self.format == "darknet":
            _check_darknet_weights_size(net, Path(weights))
        net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
        net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
        return net

    def propose(self, image: np.ndarray) -> list[Region]:
        rgb = _as_rgb(image)
        height, width = rgb.shape[:2]
        blob, lb = prepare_input(rgb, self.input_size, self.letterbox)
        try:
            with self._lock:
                self._net.setInput(blob)
                outputs = self._net.forward(self._out_names)
        except cv2.error as exc:
            raise ModelError(f"YOLO inference failed: {str(exc).strip().splitlines()[-1]}") from exc
        darknet = self.format == "darknet"
        xywh, confs, ids = parse_outputs(
            list(outputs), len(self.class_names), self.input_size, objectness_applied=darknet,
            normalized=True if darknet else None,
        )
        keep = confs >= self.confidence
        xywh, confs, ids = xywh[keep], confs[keep], ids[keep]
        if not len(confs):
            return []
        # input pixels -> image pixels, corner form
        x0 = (xywh[:, 0] - xywh[:, 2] / 2 - lb.pad_x) / lb.scale_x
        y0 = (xywh[:, 1] - xywh[:, 3] / 2 - lb.pad_y) / lb.scale_y
        x1 = (xywh[:, 0] + xywh[:, 2] / 2 - lb.pad_x) / lb.scale_x
        y1 = (xywh[:, 1] + xywh[:, 3] / 2 - lb.pad_y) / lb.scale_y
        nms_boxes = [[float(a), float(b), float(c - a), float(d - b)] for a, b, c, d in zip(x0, y0, x1, y1)]
        picked = cv2.dnn.NMSBoxesBatched(nms_boxes, confs.tolist(), ids.tolist(), self.confidence, self.nms)
        regions = []
        for i in np.asarray(picked, dtype=np.int64).reshape(-1):
            box = clip_box(x0[i], y0[i], x1[i], y1[i], width, height)
            if box is None:
                continue
            cls = int(ids[i])
            label = self.class_names[cls] if cls < len(self.class_names) else f"class_{cls}"
            regions.append(Region(*box, score=float(min(1.0, max(0.0, confs[i]))), label=label))
        regions.sort(key=lambda r: -r.score)
        return regions


def _check_darknet_weights_size(net: cv2.dnn.Net, weights: Path) -> None:
    """Refuse a truncated darknet weights file.

    OpenCV reads a short file without complaint and runs with missing
    weights, so a cut-off download would silently find nothing. The file is a
    header (major, minor, revision, images seen) followed by float32
    convolution and batch-norm parameters, in the numbers the loaded layers hold.
    """
    size = weights.stat().st_size
    with open(weights, "rb") as fh:
        major, minor, _ = np.frombuffer(fh.read(12).ljust(12, b"\0"), dtype="<i4")
    header = 20 if (major * 10 + minor) >= 2 and major < 1000 else 16
    expected = 0
    for name in net.getLayerNames():
        layer = net.getLayer(name)
        if layer.type in ("Convolution", "BatchNorm"):
            expected += sum(int(b.size) for b in layer.blobs)
    needed = header + 4 * expected
    if size < needed:
        raise ModelError(
            f"YOLO weights {weights} are truncated: {size} bytes, the cfg needs {needed} "
            "(an interrupted download? run `navee-monitor models fetch` again)"
        )
    if size > needed:
        log.warning("YOLO weights %s are %d bytes larger than the cfg needs: wrong cfg?", weights, size - needed)


def _as_rgb(image: np.ndarray) -> np.ndarray:
    a = np.asarray(image)
    if a.ndim == 2:
        a = cv2.cvtColor(a, cv2.COLOR_GRAY2RGB)
    elif a.ndim == 3 and a.shape[2] == 4:
        a = cv2.cvtColor(a, cv2.COLOR_RGBA2RGB)
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"expected an RGB image (H, W, 3), got shape {a.shape}")
    if a.dtype != np.uint8:
        a = np.clip(a, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(a)
