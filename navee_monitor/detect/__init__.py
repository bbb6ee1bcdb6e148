"""detect stage of navee-monitor: where in an image a (partial) copy may sit.

- :func:`build_proposer` ``(settings) -> RegionProposer | None``: YOLO object
  crops (:class:`YoloDetector`, OpenCV DNN) + class-agnostic framed
  rectangles (:class:`ContourRegionProposer`) merged by
  :class:`CompositeProposer`; None, with one warning, when the detector is
  disabled or its files are missing.
- :func:`crop_regions` ``(rgb, regions) -> list[np.ndarray]``: the crops to
  search like whole images.
- :class:`CropWeighting`: the re-weighting of crop scores by crop size and
  detection confidence (see :mod:`navee_monitor.detect.weighting`).
- :class:`FullImageProposer`, :class:`FixedRegionsProposer`: trivial
  proposers that pass the same contract tests.
"""

from navee_monitor.detect.base import Region, RegionProposer
from navee_monitor.detect.fixed import FixedRegionsProposer, FullImageProposer
from navee_monitor.detect.proposer import CompositeProposer, build_proposer, crop_regions
from navee_monitor.detect.regions import ContourRegionProposer
from navee_monitor.detect.weighting import CropWeighting, area_fraction
from navee_monitor.detect.yolo import YoloDetector

__all__ = [
    "CompositeProposer",
    "ContourRegionProposer",
    "CropWeighting",
    "FixedRegionsProposer",
    "FullImageProposer",
    "Region",
    "RegionProposer",
    "YoloDetector",
    "area_fraction",
    "build_proposer",
    "crop_regions",
]
