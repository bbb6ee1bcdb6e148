"""Re-weighting of crop match scores by crop size and detection confidence.

The original study searched YOLO crops like whole images and found that small
crops and doubtful detections produce most false matches: a small, low-detail
crop resembles many references a little, and a crop around a spurious
detection is an arbitrary piece of the picture. It therefore re-weighted the
crop distances by crop size and detection probability. In similarity terms
(higher is better), for a crop covering ``area_fraction`` of the image and
proposed with confidence ``conf``::

    s' = s * (alpha + (1 - alpha) * sqrt(area_fraction)) ** beta * conf ** gamma

- ``sqrt(area_fraction)`` is the crop's relative side length: a crop a
  quarter of the image wide counts half as much as one covering it, before
  ``alpha`` sets the floor: with ``alpha = 1`` size is ignored, with
  ``alpha = 0`` a crop of 4 % of the image keeps at most 20 % of its score;
- ``beta`` sharpens (> 1) or softens (< 1) the size term;
- ``gamma`` sets how much the detection confidence counts (0 ignores it).

The whole image (area 1, confidence 1) is never changed, so full-image
matches and crop matches stay comparable and the matcher's thresholds keep
their meaning. ``alpha``, ``beta`` and ``gamma`` are ``detector.weight_*`` in
the settings, to tune against the evaluation.

What the evaluation showed (``benchmarks/detect.py --match``, BENCHMARKS.md):
on mock-ups of 160 artworks among 360 references with 80 plain photos as
distractor queries, the neutral setting (alpha 1, gamma 0) gave the best
micro-AP (0.67); alpha 0.7 / gamma 0.25 gave 0.57, alpha 0.5 / gamma 0.5 0.36.
The copies there are small parts of their pictures, and down-weighting small
crops costs more true matches than it removes false ones. The defaults are
therefore neutral; the formula stays for other collections and models.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from navee_monitor.detect.base import Region


@dataclass(frozen=True)
class CropWeighting:
    alpha: float = 1.0
    beta: float = 1.0
    gamma: float = 0.0

    def __post_init__(self) -> None:
        if not 0 <= self.alpha <= 1 or self.beta < 0 or self.gamma < 0:
            raise ValueError("crop weighting needs 0 <= alpha <= 1, beta >= 0, gamma >= 0")

    @classmethod
    def from_settings(cls, detector) -> CropWeighting:
        """``detector``: the ``DetectorSettings`` section."""
        return cls(alpha=detector.weight_alpha, beta=detector.weight_beta, gamma=detector.weight_gamma)

    @classmethod
    def neutral(cls) -> CropWeighting:
        """A weighting that changes nothing (alpha 1, gamma 0)."""
        return cls(alpha=1.0, beta=1.0, gamma=0.0)

    def factor(self, area_fraction: float, confidence: float) -> float:
        """The multiplier in [0, 1] for a crop of ``area_fraction`` proposed with ``confidence``."""
        a = min(1.0, max(0.0, float(area_fraction)))
        c = min(1.0, max(0.0, float(confidence)))
        size_term = (self.alpha + (1.0 - self.alpha) * math.sqrt(a)) ** self.beta
        conf_term = c**self.gamma if self.gamma else 1.0
        return size_term * conf_term

    def weigh(self, score: float, region: Region, image_shape: tuple[int, ...]) -> float:
        """Re-weighted score of a match found on ``region`` of an image of ``image_shape`` (H, W, ...)."""
        return float(score) * self.factor(area_fraction(region, image_shape), region.score)


def area_fraction(region: Region, image_shape: tuple[int, ...]) -> float:
    """The share of the image's area the region covers."""
    h, w = image_shape[:2]
    return region.area / float(h * w) if h and w else 0.0
