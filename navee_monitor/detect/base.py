"""The region proposer contract: where in an image a copy may sit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class Region:
    x: int
    y: int
    w: int
    h: int
    #: detection confidence in [0, 1]
    score: float
    #: COCO class name, or "region" for class-agnostic proposals
    label: str

    @property
    def bbox(self) -> list[int]:
        return [self.x, self.y, self.w, self.h]


@runtime_checkable
class RegionProposer(Protocol):
    def propose(self, image: np.ndarray) -> list[Region]:
        """RGB uint8 (H, W, 3) -> regions inside the image, best first."""
        ...
