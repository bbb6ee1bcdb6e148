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


# ---- copy edits: the artwork inside something else --------------------------------
#
# What a hard copy looks like to the matcher: a small part of the artwork, the
# artwork pasted into a larger photograph (a mock-up, a room, a product shot),
# one tile of a collage, a screenshot of a page or a post around it, a meme
# caption above or below it. Backgrounds and collage tiles are other
# *training* images (``others``), never evaluation data.

_UI_COLOURS = ((255, 255, 255), (250, 250, 250), (240, 242, 245), (24, 25, 26), (0, 0, 0), (21, 32, 43))


def _fit_into(rgb: np.ndarray, w: int, h: int) -> np.ndarray:
    """``rgb`` resized to fit a w x h box, aspect kept."""
    s = min(w / rgb.shape[1], h / rgb.shape[0])
    nw, nh = max(1, round(rgb.shape[1] * s)), max(1, round(rgb.shape[0] * s))
    return cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)


def _cover(rgb: np.ndarray, w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    """``rgb`` scaled to cover a w x h box and cropped to it at a random offset."""
    s = max(w / rgb.shape[1], h / rgb.shape[0])
    nw, nh = max(w, int(np.ceil(rgb.shape[1] * s))), max(h, int(np.ceil(rgb.shape[0] * s)))
    big = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    x, y = int(rng.integers(0, nw - w + 1)), int(rng.integers(0, nh - h + 1))
    return big[y:y + h, x:x + w]


def _text_lines(canvas: np.ndarray, rng: np.random.Generator, x0: int, y0: int, x1: int, y1: int,
                colour: tuple[int, int, int]) -> None:
    """Grey-ish lines of random text in the box (x0, y0)-(x1, y1), like page chrome."""
    if x1 - x0 < 20 or y1 - y0 < 8:
        return
    scale = float(rng.uniform(0.3, 0.6)) * canvas.shape[1] / 400
    step = max(8, int(28 * scale))
    y = y0 + step
    while y < y1:
        text = "".join(rng.choice(list(_TEXT), size=int(rng.integers(5, 30))))
        cv2.putText(canvas, text, (x0 + 4, y), _FONTS[int(rng.integers(2))], scale, colour, 1, cv2.LINE_AA)
        y += step


def paste_in_scene(rgb: np.ndarray, background: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The artwork at 25-70 % of a photograph's size, slightly tilted in perspective, with a frame
    or a shadow sometimes: a print on a wall, a poster, a product mock-up."""
    side = 400
    bh = side
    bw = int(side * rng.uniform(0.75, 1.5))
    canvas = _cover(background, bw, bh, rng).copy()
    art = _fit_into(rgb, int(bw * rng.uniform(0.25, 0.7)), int(bh * rng.uniform(0.25, 0.7)))
    if rng.random() < 0.4:  # a mat / frame around the print
        pad = max(1, int(min(art.shape[:2]) * rng.uniform(0.02, 0.1)))
        art = cv2.copyMakeBorder(art, pad, pad, pad, pad, cv2.BORDER_CONSTANT,
                                 value=[int(c) for c in rng.integers(0, 256, 3)])
    ah, aw = art.shape[:2]
    x, y = int(rng.integers(0, bw - aw + 1)), int(rng.integers(0, bh - ah + 1))
    src = np.float32([[0, 0], [aw, 0], [aw, ah], [0, ah]])
    jitter = rng.uniform(-0.08, 0.08, (4, 2)) * np.float32([aw, ah])
    dst = (src + np.float32([x, y]) + jitter).astype(np.float32)
    m = cv2.getPerspectiveTransform(src, dst)
    warped = cv2.warpPerspective(art, m, (bw, bh), flags=cv2.INTER_LINEAR)
    mask = cv2.warpPerspective(np.full((ah, aw), 255, np.uint8), m, (bw, bh), flags=cv2.INTER_LINEAR)
    if rng.random() < 0.5:  # a soft drop shadow
        shadow = cv2.GaussianBlur(np.roll(mask, (int(0.02 * bh), int(0.02 * bw)), axis=(0, 1)), (0, 0), 4)
        canvas = (canvas.astype(np.float32) * (1 - 0.5 * shadow[..., None] / 255.0)).astype(np.uint8)
    alpha = mask[..., None].astype(np.float32) / 255.0
    return (warped * alpha + canvas * (1 - alpha)).astype(np.uint8)


def collage_tile(rgb: np.ndarray, others: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """The artwork as one tile of a 1x2 to 3x3 grid of other images, with gutters."""
    rows, cols = [(1, 2), (2, 1), (2, 2), (2, 3), (3, 2), (3, 3)][int(rng.integers(6))]
    tile = 400 // max(rows, cols)
    gap = int(rng.integers(0, 8))
    colour = [int(c) for c in rng.integers(0, 256, 3)] if rng.random() < 0.5 else [255, 255, 255]
    canvas = np.full((rows * tile + (rows + 1) * gap, cols * tile + (cols + 1) * gap, 3), colour, np.uint8)
    mine = int(rng.integers(rows * cols))
    for k in range(rows * cols):
        src = rgb if k == mine else others[int(rng.integers(len(others)))]
        r, c = divmod(k, cols)
        y, x = gap + r * (tile + gap), gap + c * (tile + gap)
        canvas[y:y + tile, x:x + tile] = _cover(src, tile, tile, rng)
    return canvas


def screenshot(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The artwork inside page chrome: a bar on top, lines of text beside or under it, margins."""
    w = 400
    bg = _UI_COLOURS[int(rng.integers(len(_UI_COLOURS)))]
    ink = (30, 30, 30) if sum(bg) > 384 else (220, 220, 220)
    top = int(w * rng.uniform(0.05, 0.15))
    side = int(w * rng.uniform(0.0, 0.4)) if rng.random() < 0.5 else 0
    art = _fit_into(rgb, int((w - side) * rng.uniform(0.6, 0.95)), int(w * rng.uniform(0.5, 0.9)))
    below = int(w * rng.uniform(0.05, 0.3))
    h = top + art.shape[0] + below + 8
    canvas = np.full((h, w, 3), bg, np.uint8)
    bar = [int(c) for c in rng.integers(0, 256, 3)]
    canvas[:top] = bar
    _text_lines(canvas, rng, 4, 0, w // 2, top, (255 - bar[0], 255 - bar[1], 255 - bar[2]))
    x = side + int(rng.integers(0, max(1, w - side - art.shape[1] + 1)))
    canvas[top + 4:top + 4 + art.shape[0], x:x + art.shape[1]] = art
    _text_lines(canvas, rng, 0, top, side, h, ink)
    _text_lines(canvas, rng, 0, top + 4 + art.shape[0], w, h, ink)
    return canvas


def caption(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A meme: a band of text above and/or below the artwork, or thick outlined text over it."""
    out = _fit_into(rgb, 400, 400)
    h, w = out.shape[:2]
    if rng.random() < 0.5:
        band = int(h * rng.uniform(0.1, 0.3))
        colour = (255, 255, 255) if rng.random() < 0.7 else (0, 0, 0)
        top, bottom = (band, 0) if rng.random() < 0.5 else ((band, band) if rng.random() < 0.5 else (0, band))
        out = cv2.copyMakeBorder(out, top, bottom, 0, 0, cv2.BORDER_CONSTANT, value=list(colour))
        ink = tuple(255 - c for c in colour)
        if top:
            _text_lines(out, rng, 0, 0, w, top, ink)
        if bottom:
            _text_lines(out, rng, 0, out.shape[0] - bottom, w, out.shape[0], ink)
        return out
    out = out.copy()
    for y in (int(h * rng.uniform(0.1, 0.2)), int(h * rng.uniform(0.85, 0.95))):
        text = "".join(rng.choice(list(string.ascii_uppercase + "  "), size=int(rng.integers(6, 16))))
        scale = float(rng.uniform(0.6, 1.3)) * w / 400
        cv2.putText(out, text, (int(w * 0.05), y), cv2.FONT_HERSHEY_DUPLEX, scale, (0, 0, 0), int(6 * scale) + 2, cv2.LINE_AA)
        cv2.putText(out, text, (int(w * 0.05), y), cv2.FONT_HERSHEY_DUPLEX, scale, (255, 255, 255), int(2 * scale) + 1, cv2.LINE_AA)
    return out


def recolour(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A filter: jitter, grey, sepia or inverted channels."""
    k = rng.random()
    if k < 0.6:
        return color_jitter(rgb, rng, 0.3)
    if k < 0.8:
        return grayscale(rgb)
    if k < 0.95:
        sepia = np.float32([[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]])
        return np.clip(rgb.astype(np.float32) @ sepia.T, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(rgb[..., ::-1])


#: the edits of :func:`copy_view` and their weights
COPY_EDITS = {"crop": 0.25, "scene": 0.2, "collage": 0.15, "screenshot": 0.15, "caption": 0.1, "strong": 0.15}


def copy_view(rgb: np.ndarray, rng: np.random.Generator, size: int, others: list[np.ndarray] | None = None,
              edit: str | None = None) -> np.ndarray:
    """One copy-like view of ``rgb``, RGB uint8 (size, size, 3): one edit of :data:`COPY_EDITS`
    (``scene`` and ``collage`` need ``others``, images to surround it with), then maybe a filter,
    a flip, blur and JPEG re-encoding. The view is squashed to size x size like the embedder does."""
    names = list(COPY_EDITS)
    if not others:
        names = [n for n in names if n not in ("scene", "collage")]
    if edit is None:
        p = np.array([COPY_EDITS[n] for n in names])
        edit = names[int(rng.choice(len(names), p=p / p.sum()))]
    if edit == "strong":
        return strong_view(rgb, rng, size)
    if edit == "crop":
        x = random_resized_crop(rgb, rng, size, scale=(0.08, 0.5), ratio=(0.5, 2.0))
    elif edit == "scene":
        x = paste_in_scene(rgb, others[int(rng.integers(len(others)))], rng)
    elif edit == "collage":
        x = collage_tile(rgb, others, rng)
    elif edit == "screenshot":
        x = screenshot(rgb, rng)
    elif edit == "caption":
        x = caption(rgb, rng)
    else:
        raise ValueError(f"unknown copy edit {edit!r} (known: {', '.join(COPY_EDITS)})")
    x = resize_square(x, size)
    if rng.random() < 0.4:
        x = recolour(x, rng)
    if rng.random() < 0.3:
        x = np.ascontiguousarray(x[:, ::-1])
    if rng.random() < 0.2:
        x = gaussian_blur(x, rng)
    if rng.random() < 0.5:
        x = jpeg(x, rng)
    return x
