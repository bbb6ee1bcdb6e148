"""Strong, seeded augmentations for the self-supervised copy-detection objective.

What a copier does to an artwork, roughly in SSCD's spirit: crop and
rescale it, flip it, shift its colours, turn it grey, blur it, re-encode it
as a low-quality JPEG, frame it, and print text or stickers over it. Two
independent draws of :func:`strong_view` of the same image are a positive
pair. Everything is numpy/OpenCV driven by a ``numpy.random.Generator``, so
a seed gives the same views every time.

These are deliberately *not* the evaluation suite's transforms
(``navee_monitor.evaluation.transforms``): training on the benchmark's own
edits would flatter it.
"""

from __future__ import annotations

import string

import cv2
import numpy as np

_FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX,
          cv2.FONT_HERSHEY_TRIPLEX, cv2.FONT_HERSHEY_SCRIPT_SIMPLEX)
_TEXT = string.ascii_letters + string.digits + "  !?@#&"


def resize_square(rgb: np.ndarray, size: int) -> np.ndarray:
    """The whole image squashed to size x size, like the embedder does (aspect not kept)."""
    shrinking = rgb.shape[0] * rgb.shape[1] > size * size
    return cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)


def random_resized_crop(rgb: np.ndarray, rng: np.random.Generator, size: int,
                        scale: tuple[float, float] = (0.3, 1.0), ratio: tuple[float, float] = (0.75, 1.333)) -> np.ndarray:
    h, w = rgb.shape[:2]
    for _ in range(10):
        area = h * w * rng.uniform(*scale)
        aspect = np.exp(rng.uniform(np.log(ratio[0]), np.log(ratio[1])))
        cw, ch = int(round(np.sqrt(area * aspect))), int(round(np.sqrt(area / aspect)))
        if 0 < cw <= w and 0 < ch <= h:
            x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
            return resize_square(rgb[y:y + ch, x:x + cw], size)
    return resize_square(rgb, size)


def color_jitter(rgb: np.ndarray, rng: np.random.Generator, strength: float = 0.4) -> np.ndarray:
    """Brightness, contrast, saturation (multiplicative) and hue (rotation) in random order."""
    out = rgb.astype(np.float32)
    for op in rng.permutation(4):
        if op == 0:
            out *= rng.uniform(1 - strength, 1 + strength)
        elif op == 1:
            mean = out.mean()
            out = (out - mean) * rng.uniform(1 - strength, 1 + strength) + mean
        elif op == 2:
            grey = out @ np.array([0.299, 0.587, 0.114], np.float32)
            out = (out - grey[..., None]) * rng.uniform(1 - strength, 1 + strength) + grey[..., None]
        else:
            hsv = cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_RGB2HSV)
            hsv[..., 0] = (hsv[..., 0].astype(np.int32) + int(rng.integers(-18, 19))) % 180
            out = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB).astype(np.float32)
        out = np.clip(out, 0, 255)
    return out.astype(np.uint8)


def grayscale(rgb: np.ndarray) -> np.ndarray:
    return np.repeat(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)


def gaussian_blur(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return cv2.GaussianBlur(rgb, (0, 0), sigmaX=float(rng.uniform(0.3, 2.0)))


def jpeg(rgb: np.ndarray, rng: np.random.Generator, quality: tuple[int, int] = (20, 90)) -> np.ndarray:
    q = int(rng.integers(quality[0], quality[1] + 1))
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, q])
    if not ok:  # never seen; keep the view rather than fail the batch
        return rgb
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def overlay_text(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = rgb.copy()
    h, w = out.shape[:2]
    for _ in range(int(rng.integers(1, 3))):
        text = "".join(rng.choice(list(_TEXT), size=int(rng.integers(4, 14))))
        scale = float(rng.uniform(0.3, 1.2)) * w / 224
        org = (int(rng.integers(0, max(1, w // 2))), int(rng.integers(h // 8, h)))
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        cv2.putText(out, text, org, _FONTS[int(rng.integers(len(_FONTS)))], scale, color,
                    max(1, int(round(scale * 2))), cv2.LINE_AA)
    return out


def overlay_shapes(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Emoji- or sticker-like blobs: filled circles / rounded boxes with a face-ish mark."""
    out = rgb.copy()
    h, w = out.shape[:2]
    for _ in range(int(rng.integers(1, 4))):
        r = int(rng.uniform(0.04, 0.15) * min(h, w)) + 1
        cx, cy = int(rng.integers(0, w)), int(rng.integers(0, h))
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        if rng.random() < 0.6:
            cv2.circle(out, (cx, cy), r, color, -1, cv2.LINE_AA)
            eye = tuple(int(c) for c in 255 - np.array(color))
            cv2.circle(out, (cx - r // 3, cy - r // 4), max(1, r // 6), eye, -1)
            cv2.circle(out, (cx + r // 3, cy - r // 4), max(1, r // 6), eye, -1)
        else:
            cv2.rectangle(out, (cx - r, cy - r // 2), (cx + r, cy + r // 2), color, -1)
    return out


def frame(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = rgb.shape[:2]
    t, b, lft, rgt = (int(rng.uniform(0, 0.15) * s) for s in (h, h, w, w))
    color = [int(c) for c in rng.integers(0, 256, 3)]
    return cv2.copyMakeBorder(rgb, t, b, lft, rgt, cv2.BORDER_CONSTANT, value=color)


def strong_view(rgb: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
    """One strongly augmented view, RGB uint8 (size, size, 3)."""
    x = frame(rgb, rng) if rng.random() < 0.2 else rgb
    x = random_resized_crop(x, rng, size)
    if rng.random() < 0.5:
        x = np.ascontiguousarray(x[:, ::-1])
    if rng.random() < 0.8:
        x = color_jitter(x, rng)
    if rng.random() < 0.2:
        x = grayscale(x)
    if rng.random() < 0.3:
        x = gaussian_blur(x, rng)
    if rng.random() < 0.3:
        x = overlay_text(x, rng)
    if rng.random() < 0.2:
        x = overlay_shapes(x, rng)
    if rng.random() < 0.5:
        x = jpeg(x, rng)
    return x


def light_view(rgb: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
    """The supervised objectives' augmentation: a milder crop and a flip."""
    x = random_resized_crop(rgb, rng, size, scale=(0.6, 1.0))
    return np.ascontiguousarray(x[:, ::-1]) if rng.random() < 0.5 else x
