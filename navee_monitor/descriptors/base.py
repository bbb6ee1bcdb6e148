"""The embedder contract: images in, L2-normalised float32 vectors out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Embedder(Protocol):
    #: identifies model + weights + preprocessing + whitening; descriptors of
    #: different versions are never compared (``ModelError`` instead)
    model_version: str
    dim: int

    def embed(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """RGB uint8 arrays (H, W, 3) -> float32 array (n, dim), rows L2-normalised."""
        ...
