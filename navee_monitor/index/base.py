"""The vector index contract shared by the exact, LSH, ITQ and FAISS indexes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class VectorIndex(Protocol):
    #: the embedding model version of the vectors; queries from another model are refused
    model_version: str
    dim: int

    def add(self, keys: Sequence[str], vectors: np.ndarray) -> None:
        """Add (or replace) vectors; rows L2-normalised float32 (n, dim)."""
        ...

    def remove(self, keys: Sequence[str]) -> int:
        """Remove keys; returns how many were present."""
        ...

    def query(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        """Top-k (key, cosine similarity), highest first."""
        ...

    def query_batch(self, vectors: np.ndarray, k: int) -> list[list[tuple[str, float]]]:
        ...

    def save(self, directory: Path) -> None:
        """Persist atomically: a crash mid-save leaves the previous files usable."""
        ...

    def __len__(self) -> int: ...
