"""Putting the proposers together: ``build_proposer(settings)`` and ``crop_regions``.

How the matcher uses this package::

    proposer = build_proposer(settings)          # once; None = crops disabled
    weighting = CropWeighting.from_settings(settings.detector)
    ...
    regions = proposer.propose(rgb) if proposer else []
    crops = crop_regions(rgb, regions)           # same order as regions
    # embed/search each crop like a whole image; for a crop hit with score s:
    #   score = weighting.weigh(s, region, rgb.shape); bbox = region.bbox
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import cv2
import numpy as np

from navee_monitor.detect.base import Region, RegionProposer
from navee_monitor.detect.boxes import dedup
from navee_monitor.errors import ModelError

log = logging.getLogger(__name__)


class CompositeProposer:
    """Merges several proposers: size filter, best first, de-duplicated by IoU, capped.

    Regions covering less than ``min_crop_fraction`` of the image are too
    small to identify an artwork; those covering more than
    ``max_crop_fraction`` repeat the full-image search. A proposer that fails
    on one image (OpenCV error, model error) is logged and skipped for that
    image; the others still contribute.
    """

    def __init__(
        self,
        proposers: Sequence[RegionProposer],
        *,
        max_crops: int = 8,
        min_crop_fraction: float = 0.02,
        max_crop_fraction: float = 0.9,
        dedup_iou: float = 0.7,
    ) -> None:
        self.proposers = list(proposers)
        self.max_crops = max_crops
        self.min_crop_fraction = min_crop_fraction
        self.max_crop_fraction = max_crop_fraction
        self.dedup_iou = dedup_iou

    def propose(self, image: np.ndarray) -> list[Region]:
        h, w = image.shape[:2]
        area = float(h * w)
        if not area or self.max_crops <= 0:
            return []
        pooled: list[Region] = []
        for proposer in self.proposers:
            try:
                found = proposer.propose(image)
            except (cv2.error, ModelError) as exc:
                log.warning("%s failed on a %dx%d image: %s", type(proposer).__name__, w, h, exc)
                continue
            pooled.extend(r for r in found if self.min_crop_fraction <= r.area / area <= self.max_crop_fraction)
        # stable sort: among equal scores the earlier proposer (YOLO) wins
        pooled.sort(key=lambda r: -r.score)
        return dedup(pooled, self.dedup_iou)[: self.max_crops]


def build_proposer(settings) -> RegionProposer | None:
    """The configured proposer (YOLO + class-agnostic regions), or None with one warning.

    None when ``detector.enabled`` is false or ``detector.max_crops`` is 0:
    the matcher then searches whole images only. Missing or broken YOLO files
    disable the object crops with one warning; the class-agnostic framed
    regions (no model file needed) still run. Never raises for a missing or
    broken model.
    """
    from navee_monitor.detect.fixed import FixedRegionsProposer
    from navee_monitor.detect.model_files import detector_files
    from navee_monitor.detect.regions import ContourRegionProposer
    from navee_monitor.detect.yolo import YoloDetector

    det = settings.detector
    if not det.enabled or det.max_crops == 0:
        why = "detector.enabled is false" if not det.enabled else "detector.max_crops is 0"
        log.warning("crop search disabled (%s): images are matched whole only", why)
        return None
    proposers: list[RegionProposer] = []
    files = detector_files(settings)
    missing = files.missing()
    yolo_name = None
    if missing:
        log.warning(
            "YOLO object crops disabled: detector file(s) missing: %s. Run `navee-monitor models fetch` "
            "(needs internet) or set detector.cfg/weights/names%s",
            ", ".join(str(p) for p in missing),
            "; framed regions are still searched" if det.regions else "",
        )
    else:
        try:
            proposers.append(YoloDetector.from_settings(det, files))
            yolo_name = files.weights.name
        except ModelError as exc:
            log.warning("YOLO object crops disabled: %s", exc)
    # the contour proposer needs no model file: it keeps partial copies (framed
    # prints, mock-ups) findable on a server that cannot download the detector
    if det.regions:
        proposers.append(ContourRegionProposer(min_area_fraction=det.min_crop_fraction))
    if det.fixed_crops:
        proposers.append(FixedRegionsProposer())
    if not proposers:
        return None
    log.info(
        "crop search: %s%s%s, at most %d crops per image",
        f"{yolo_name} ({det.format}, {det.input_size} px)" if yolo_name else "no YOLO",
        " + framed regions" if det.regions else "", " + fixed crops" if det.fixed_crops else "", det.max_crops,
    )
    return CompositeProposer(
        proposers,
        max_crops=det.max_crops,
        min_crop_fraction=det.min_crop_fraction,
        max_crop_fraction=det.max_crop_fraction,
        dedup_iou=det.dedup_iou,
    )


def crop_regions(rgb: np.ndarray, regions: Sequence[Region], *, rectify: bool = True) -> list[np.ndarray]:
    """The pixels of each region, in order, as contiguous RGB uint8 arrays.

    With ``rectify`` a region that carries a perspective ``quad`` (a print
    photographed at an angle) is warped back to a rectangle, which is what
    the embedding and the local features expect; other regions are plain
    box crops. The region's reported ``bbox`` is unchanged either way.
    """
    h, w = rgb.shape[:2]
    crops = []
    for r in regions:
        x0, y0 = max(0, r.x), max(0, r.y)
        x1, y1 = min(w, r.x + r.w), min(h, r.y + r.h)
        if x1 <= x0 or y1 <= y0:
            raise ValueError(f"region {r.bbox} lies outside the {w}x{h} image")
        if rectify and r.quad is not None and _is_slanted(r):
            crops.append(_rectify(rgb, np.asarray(r.quad, np.float32)))
        else:
            crops.append(np.ascontiguousarray(rgb[y0:y1, x0:x1]))
    return crops


def _is_slanted(r: Region, tolerance: float = 0.03) -> bool:
    """True when the quad's corners stray from the box corners by more than ``tolerance`` of its size."""
    box = np.array([[r.x, r.y], [r.x + r.w, r.y], [r.x + r.w, r.y + r.h], [r.x, r.y + r.h]], np.float64)
    dev = np.abs(np.asarray(r.quad, np.float64) - box).max()
    return dev > tolerance * max(r.w, r.h)


def _rectify(rgb: np.ndarray, quad: np.ndarray) -> np.ndarray:
    tl, tr, br, bl = quad
    width = int(round(max(np.linalg.norm(tr - tl), np.linalg.norm(br - bl))))
    height = int(round(max(np.linalg.norm(bl - tl), np.linalg.norm(br - tr))))
    width, height = max(width, 2), max(height, 2)
    dst = np.float32([[0, 0], [width, 0], [width, height], [0, height]])
    m = cv2.getPerspectiveTransform(quad.astype(np.float32), dst)
    return cv2.warpPerspective(rgb, m, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
