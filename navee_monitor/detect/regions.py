"""Class-agnostic region proposals: framed rectangles and large quadrilaterals.

COCO has no "painting" class, so YOLO rarely boxes a print on a wall, a
framed canvas in a shop photo or a picture inside a screenshot. Those copies
have one thing in common: a closed, roughly rectangular outline (frame edge,
mat, print margin, window border). We find them by contour analysis:

1. rescale to ``work_side`` px on the longest side (small web images are
   upscaled, large ones downscaled, so that edge widths compare),
2. Canny edges with low fixed thresholds (15/45: a dark frame on a dark wall
   or a white margin on a light one is low contrast; thresholds from the
   median grey level missed a quarter of the frames in the benchmark), used
   twice: dilated by 3x3, which closes the gaps Canny leaves at corners, and
   raw, which keeps a narrow margin's outline apart from the clutter that the
   dilation would glue onto it,
3. ``findContours`` (all contours, nested ones too: a frame gives an outer and
   an inner outline, the inner one being the artwork itself),
4. each large contour is filled and opened (edges of things touching the
   outline leave thin spurs that would spoil its shape), then its convex hull
   is simplified by ``approxPolyDP``: four convex corners with interior
   angles of 50-130 degrees make a candidate,
5. score = how solidly the outline fills its quadrilateral; among equal
   scores the smaller (a frame's inner outline: the artwork itself) first.

Boxes are the quadrilaterals' axis-aligned bounds (``Region.quad`` keeps the
corners, so a crop can be rectified), best first, de-duplicated.
"""

from __future__ import annotations

import cv2
import numpy as np

from navee_monitor.detect.base import Region
from navee_monitor.detect.boxes import clip_box, dedup


class ContourRegionProposer:
    """Framed rectangles / quadrilaterals by contour analysis; no model, about 10 ms per image."""

    def __init__(
        self,
        *,
        min_area_fraction: float = 0.02,
        max_area_fraction: float = 0.95,
        min_fill: float = 0.85,
        max_regions: int = 8,
        work_side: int = 640,
        dedup_iou: float = 0.85,
        canny_low: int = 15,
        canny_high: int = 45,
    ) -> None:
        self.min_area_fraction = min_area_fraction
        self.max_area_fraction = max_area_fraction
        self.min_fill = min_fill
        self.max_regions = max_regions
        self.work_side = work_side
        self.dedup_iou = dedup_iou
        self.canny_low = canny_low
        self.canny_high = canny_high

    def propose(self, image: np.ndarray) -> list[Region]:
        h, w = image.shape[:2]
        if h < 16 or w < 16:
            return []
        # a fixed working size makes edge widths and the dilation comparable across
        # image sizes (small web images are upscaled, large ones downscaled)
        scale = self.work_side / max(h, w)
        gray = image if image.ndim == 2 else cv2.cvtColor(np.ascontiguousarray(image[..., :3]), cv2.COLOR_RGB2GRAY)
        if abs(scale - 1.0) > 0.05:
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        else:
            scale = 1.0
        min_box = self.min_area_fraction * gray.shape[0] * gray.shape[1]
        max_box = self.max_area_fraction * gray.shape[0] * gray.shape[1]
        edges = cv2.Canny(cv2.GaussianBlur(gray, (5, 5), 0), self.canny_low, self.canny_high)
        # Two edge maps: dilated, which closes the gaps Canny leaves at corners, and
        # raw, which keeps an outline apart from clutter that dilation glues onto it
        # (a narrow print margin between a busy wall and a busy picture).
        candidates: list[tuple[float, float, np.ndarray]] = []
        for edge_map in (cv2.dilate(edges, np.ones((3, 3), np.uint8)), edges):
            contours, _ = cv2.findContours(edge_map, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
            for c in contours:
                x, y, bw, bh = cv2.boundingRect(c)
                # the filled outline must cover min_fill of a quadrilateral of at
                # least min_box: a cheap test that drops open edge tangles early
                if not min_box <= bw * bh <= max_box or cv2.contourArea(c) < self.min_fill * min_box:
                    continue
                solid = _solid_outline(c, x, y, bw, bh)
                quad = _quadrilateral(solid) if solid is not None else None
                if quad is None:
                    continue
                quad_area = cv2.contourArea(quad)
                if quad_area < min_box:  # the opening may leave only a small part
                    continue
                fill = min(1.0, cv2.contourArea(solid) / quad_area)
                if fill >= self.min_fill:
                    candidates.append((round(fill, 2), quad_area, quad))
        # best outline first; among equals the smaller one, so that of a frame's
        # outer and inner outlines the inner one (the artwork itself) comes first
        candidates.sort(key=lambda t: (-t[0], t[1]))
        regions = []
        for fill, _, quad in candidates:
            pts = quad.reshape(4, 2).astype(np.float64) / scale
            box = clip_box(pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max(), w, h)
            if box is None:
                continue
            corners = tuple((float(px), float(py)) for px, py in _order_corners(pts))
            regions.append(Region(*box, score=float(fill), label="region", quad=corners))
        return dedup(regions, self.dedup_iou)[: self.max_regions]


def _solid_outline(contour: np.ndarray, x: int, y: int, w: int, h: int) -> np.ndarray | None:
    """The contour filled, with thin tails (edges of things touching the outline) opened away.

    An edge of the background or of the artwork that touches the outline adds
    a thin spur to the contour, enough to turn its hull into a pentagon. An
    opening with a kernel a few percent of the box removes the spurs (and
    open edge chains entirely) but keeps the solid body of a closed outline.
    """
    mask = np.zeros((h + 2, w + 2), np.uint8)
    cv2.drawContours(mask, [contour], -1, 255, thickness=cv2.FILLED, offset=(1 - x, 1 - y))
    k = max(3, int(0.04 * min(w, h)) | 1)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    outlines, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not outlines:
        return None
    body = max(outlines, key=cv2.contourArea)
    return body + np.array([x - 1, y - 1], dtype=body.dtype)


def _quadrilateral(contour: np.ndarray) -> np.ndarray | None:
    """Four convex corners approximating the contour's hull, or None."""
    hull = cv2.convexHull(contour)
    perimeter = cv2.arcLength(hull, True)
    for eps in (0.02, 0.04):
        approx = cv2.approxPolyDP(hull, eps * perimeter, True)
        if len(approx) == 4:
            break
    else:
        return None
    if not cv2.isContourConvex(approx) or not _sane_angles(approx.reshape(4, 2)):
        return None
    return approx


def _sane_angles(pts: np.ndarray, low: float = 50.0, high: float = 130.0) -> bool:
    """Interior angles of a rectangle seen in moderate perspective stay within [low, high] degrees."""
    pts = pts.astype(np.float64)
    for i in range(4):
        a, b, c = pts[i - 1], pts[i], pts[(i + 1) % 4]
        v1, v2 = a - b, c - b
        n = np.linalg.norm(v1) * np.linalg.norm(v2)
        if n == 0:
            return False
        angle = np.degrees(np.arccos(np.clip(np.dot(v1, v2) / n, -1, 1)))
        if not low <= angle <= high:
            return False
    return True


def _order_corners(pts: np.ndarray) -> np.ndarray:
    """Clockwise from top-left (image coordinates, y down)."""
    s = pts.sum(axis=1)
    d = pts[:, 1] - pts[:, 0]
    return np.array([pts[np.argmin(s)], pts[np.argmin(d)], pts[np.argmax(s)], pts[np.argmax(d)]])
