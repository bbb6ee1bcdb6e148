"""Synthetic mock-ups: an artwork pasted into a photo, framed or in perspective.

Used by the tests and the benchmark of the region proposers (and usable by an
evaluation as a "partial copy" transformation). Every function returns the
composed RGB image and the ground-truth ``[x, y, w, h]`` of the artwork in it.
"""

from __future__ import annotations

import cv2
import numpy as np


def paste_framed(
    background: np.ndarray,
    artwork: np.ndarray,
    *,
    width_fraction: float = 0.4,
    centre: tuple[float, float] = (0.5, 0.5),
    frame_fraction: float = 0.06,
    frame_rgb: tuple[int, int, int] = (60, 40, 25),
    mat_fraction: float = 0.0,
) -> tuple[np.ndarray, list[int]]:
    """Paste ``artwork`` scaled to ``width_fraction`` of the background's width, in a frame.

    ``frame_fraction`` is the frame's thickness relative to the artwork's
    longest side; ``mat_fraction`` adds a white passe-partout inside it.
    ``centre`` is the frame's centre in relative background coordinates.
    """
    bg = background.copy()
    bh, bw = bg.shape[:2]
    aw = max(8, int(round(bw * width_fraction)))
    ah = max(8, int(round(artwork.shape[0] * aw / artwork.shape[1])))
    if ah > 0.9 * bh:  # tall artwork: fit the height instead
        ah = int(0.9 * bh / (1 + 2 * (frame_fraction + mat_fraction)))
        aw = max(8, int(round(artwork.shape[1] * ah / artwork.shape[0])))
    art = cv2.resize(artwork, (aw, ah), interpolation=cv2.INTER_AREA)
    mat = int(round(max(aw, ah) * mat_fraction))
    frame = int(round(max(aw, ah) * frame_fraction))
    if mat:
        art_m = cv2.copyMakeBorder(art, mat, mat, mat, mat, cv2.BORDER_CONSTANT, value=(245, 245, 240))
    else:
        art_m = art
    framed = cv2.copyMakeBorder(art_m, frame, frame, frame, frame, cv2.BORDER_CONSTANT, value=frame_rgb)
    fh, fw = framed.shape[:2]
    x0 = int(np.clip(round(centre[0] * bw - fw / 2), 0, max(0, bw - fw)))
    y0 = int(np.clip(round(centre[1] * bh - fh / 2), 0, max(0, bh - fh)))
    fw, fh = min(fw, bw - x0), min(fh, bh - y0)
    bg[y0 : y0 + fh, x0 : x0 + fw] = framed[:fh, :fw]
    off = frame + mat
    return bg, [x0 + off, y0 + off, min(aw, bw - x0 - off), min(ah, bh - y0 - off)]


def paste_perspective(
    background: np.ndarray,
    artwork: np.ndarray,
    quad: np.ndarray,
    *,
    border_px: int = 0,
    border_rgb: tuple[int, int, int] = (250, 250, 250),
) -> tuple[np.ndarray, list[int]]:
    """Warp ``artwork`` onto the quadrilateral ``quad`` (4x2, clockwise from top-left, in pixels).

    ``border_px`` adds a plain border (a print's white margin) before warping.
    The ground truth is the axis-aligned bounding box of the warped artwork.
    """
    art = artwork
    if border_px:
        art = cv2.copyMakeBorder(art, border_px, border_px, border_px, border_px, cv2.BORDER_CONSTANT, value=border_rgb)
    h, w = art.shape[:2]
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    dst = np.asarray(quad, np.float32).reshape(4, 2)
    m = cv2.getPerspectiveTransform(src, dst)
    bh, bw = background.shape[:2]
    warped = cv2.warpPerspective(art, m, (bw, bh), flags=cv2.INTER_LINEAR)
    mask = cv2.warpPerspective(np.full((h, w), 255, np.uint8), m, (bw, bh), flags=cv2.INTER_NEAREST)
    out = background.copy()
    out[mask > 0] = warped[mask > 0]
    # ground truth: the artwork itself, without the border
    b = border_px
    inner = np.float32([[b, b], [w - b, b], [w - b, h - b], [b, h - b]])
    pts = cv2.perspectiveTransform(inner.reshape(-1, 1, 2), m).reshape(-1, 2)
    x0, y0 = np.floor(pts.min(axis=0)).astype(int)
    x1, y1 = np.ceil(pts.max(axis=0)).astype(int)
    x0, y0 = max(0, x0), max(0, y0)
    x1, y1 = min(bw, x1), min(bh, y1)
    return out, [int(x0), int(y0), int(x1 - x0), int(y1 - y0)]
