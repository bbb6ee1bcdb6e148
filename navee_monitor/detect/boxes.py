"""Box arithmetic shared by the proposers: IoU, clipping, greedy de-duplication."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from navee_monitor.detect.base import Region


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two ``[x, y, w, h]`` boxes."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def clip_box(x0: float, y0: float, x1: float, y1: float, width: int, height: int) -> tuple[int, int, int, int] | None:
    """Corner coordinates -> integer ``(x, y, w, h)`` inside the image, None when empty."""
    xa = int(round(min(max(x0, 0.0), width)))
    ya = int(round(min(max(y0, 0.0), height)))
    xb = int(round(min(max(x1, 0.0), width)))
    yb = int(round(min(max(y1, 0.0), height)))
    if xb - xa < 1 or yb - ya < 1:
        return None
    return xa, ya, xb - xa, yb - ya


def dedup(regions: Iterable[Region], max_iou: float) -> list[Region]:
    """Keep each region unless it overlaps an earlier kept one by ``max_iou`` or more.

    The input order is the priority order (best first), so the better of two
    near-identical proposals survives.
    """
    kept: list[Region] = []
    for r in regions:
        if all(iou(r.bbox, k.bbox) < max_iou for k in kept):
            kept.append(r)
    return kept
