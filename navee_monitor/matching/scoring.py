"""One calibrated score in [0, 1] from the evidence gathered for a candidate.

The score is a logistic model of "this is a copy" over three pieces of
evidence: the CNN cosine similarity (after crop re-weighting), the number of
RANSAC inliers of the geometric verification, and the share of the reference
those inliers cover. Its coefficients are fitted by logistic regression on the
evaluation set (``benchmarks/calibrate.py`` prints them; ``BENCHMARKS.md``
records the run), so a score reads as a probability and ``matching.threshold``
is a precision/recall knob. The PDQ tier short-circuits exact and
near-exact copies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Evidence:
    cosine: float
    inliers: int = 0
    coverage: float = 0.0
    #: PDQ hamming distance to the reference (best dihedral variant), None when not compared
    pdq_distance: int | None = None


@dataclass(frozen=True)
class ScoreModel:
    bias: float
    w_cosine: float
    w_inliers: float
    w_coverage: float
    pdq_max_distance: int = 31

    def score(self, ev: Evidence) -> float:
        z = (self.bias + self.w_cosine * ev.cosine + self.w_inliers * math.log1p(max(0, ev.inliers))
             + self.w_coverage * ev.coverage)
        s = 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))
        if ev.pdq_distance is not None and ev.pdq_distance <= self.pdq_max_distance:
            # identical or near-identical pixels: as sure as this system gets
            s = max(s, 0.99 - 0.04 * ev.pdq_distance / max(1, self.pdq_max_distance))
        return float(s)


#: fitted with benchmarks/calibrate.py (see BENCHMARKS.md, "Score calibration")
DEFAULT_MODEL = ScoreModel(bias=-8.579, w_cosine=2.614, w_inliers=1.191, w_coverage=9.846)
