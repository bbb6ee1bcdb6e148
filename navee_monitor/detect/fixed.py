"""Trivial proposers: the whole image, and fixed centre/corner crops.

They need no model, never fail, and pass the same contract suite as the real
proposers (``tests/detect/test_contract.py``). ``FixedRegionsProposer`` is also
a cheap fallback for copies that sit roughly in the middle of a picture
(enabled with ``detector.fixed_crops``).
"""

from __future__ import annotations

import numpy as np

from navee_monitor.detect.base import Region


class FullImageProposer:
    """One region: the whole image (what the matcher searches anyway)."""

    def propose(self, image: np.ndarray) -> list[Region]:
        h, w = image.shape[:2]
        return [Region(0, 0, int(w), int(h), 1.0, "full")] if h and w else []


class FixedRegionsProposer:
    """Centre crops at ``centre_fractions`` of each side, then the four corner crops.

    Scores are low and fixed (they are guesses, not detections), decreasing in
    the order the crops are listed, so they rank below real detections.
    """

    def __init__(self, centre_fractions: tuple[float, ...] = (0.8, 0.6), corner_fraction: float | None = 0.6):
        if not all(0 < f <= 1 for f in centre_fractions):
            raise ValueError("centre_fractions must lie in (0, 1]")
        self.centre_fractions = tuple(centre_fractions)
        self.corner_fraction = corner_fraction

    def propose(self, image: np.ndarray) -> list[Region]:
        h, w = image.shape[:2]
        boxes: list[tuple[int, int, int, int]] = []
        for f in self.centre_fractions:
            cw, ch = max(1, round(w * f)), max(1, round(h * f))
            boxes.append(((w - cw) // 2, (h - ch) // 2, cw, ch))
        if self.corner_fraction:
            cw, ch = max(1, round(w * self.corner_fraction)), max(1, round(h * self.corner_fraction))
            boxes += [(0, 0, cw, ch), (w - cw, 0, cw, ch), (w - cw, h - ch, cw, ch), (0, h - ch, cw, ch)]
        if not (h and w):
            return []
        return [Region(x, y, bw, bh, round(0.5 - 0.02 * i, 4), "fixed") for i, (x, y, bw, bh) in enumerate(boxes)]
