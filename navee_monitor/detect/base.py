"""The region proposer contract: where in an image a copy may sit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class Region:
    """An axis-aligned box in pixel coordinates of the image it was proposed on."""

    x: int
    y: int
    w: int
    h: int
    #: detection confidence in [0, 1]
    score: float
    #: COCO class name, "region" for class-agnostic proposals, "fixed"/"full" for fixed crops
    label: str
    #: the four corners (x, y) of a quadrilateral inside the box (a print seen in
    #: perspective), clockwise from top-left; None for plain boxes
    quad: tuple[tuple[float, float], ...] | None = None

    @property
    def bbox(self) -> list[int]:
        """``[x, y, w, h]`` as reported in match results."""
        return [self.x, self.y, self.w, self.h]

    @property
    def area(self) -> int:
        return self.w * self.h


@runtime_checkable
class RegionProposer(Protocol):
    def propose(self, image: np.ndarray) -> list[Region]:
        """RGB uint8 (H, W, 3) -> regions inside the image, best first."""
        ...
