"""PCA-whitening of raw CNN descriptors, fitted on the reference collection.

Whitening decorrelates the descriptor's dimensions and down-weights the
directions every image shares (the "bursty" ones), which is what makes
GeM descriptors good at near-duplicate retrieval; it also reduces them to
``dim`` dimensions (256 in the original study).

Small collections: a PCA of ``n`` vectors has at most ``n - 1`` non-trivial
components. ``fit`` then keeps ``n - 1`` components (``out_dim < dim``)
instead of refusing, and needs at least 2 vectors; the eigenvalues are
shrunk towards their mean (``shrinkage``) so that nearly-empty directions
are not blown up into noise.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from navee_monitor.errors import ModelError

FORMAT = "navee-pca-whitening-1"


def l2_normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


@dataclass(frozen=True)
class Whitening:
    mean: np.ndarray  # (in_dim,)
    projection: np.ndarray  # (in_dim, out_dim), whitening scales folded in
    #: model version of the raw descriptors it was fitted on ("" when unknown)
    source_model_version: str = ""

    @property
    def in_dim(self) -> int:
        return int(self.projection.shape[0])

    @property
    def out_dim(self) -> int:
        return int(self.projection.shape[1])

    @property
    def version(self) -> str:
        digest = hashlib.sha256()
        digest.update(np.ascontiguousarray(self.mean, dtype=np.float32).tobytes())
        digest.update(np.ascontiguousarray(self.projection, dtype=np.float32).tobytes())
        return f"pcaw{self.out_dim}-{digest.hexdigest()[:12]}"

    @classmethod
    def fit(cls, vectors: np.ndarray, dim: int, *, shrinkage: float = 0.1,
            source_model_version: str = "") -> Whitening:
        """Fit on ``vectors`` (n, d); keeps ``min(dim, n - 1, d)`` components."""
        x = np.asarray(vectors, dtype=np.float64)
        if x.ndim != 2:
            raise ModelError(f"whitening needs a 2-D array of vectors, got shape {x.shape}")
        n, d = x.shape
        if n < 2:
            raise ModelError(f"whitening needs at least 2 reference vectors to fit, got {n}; add references first")
        if dim < 1:
            raise ModelError(f"whitening dimension must be >= 1, got {dim}")
        if not 0.0 <= shrinkage <= 1.0:
            raise ModelError(f"whitening shrinkage must be within [0, 1], got {shrinkage}")
        k = min(dim, n - 1, d)
        mean = x.mean(axis=0)
        # SVD of the centred data: right singular vectors are the principal axes
        _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
        eigen = (s**2) / (n - 1)
        total = eigen[:k]
        floor = max(float(total.mean()), 1e-12)
        shrunk = (1.0 - shrinkage) * total + shrinkage * floor
        projection = vt[:k].T / np.sqrt(shrunk + 1e-9)
        return cls(mean.astype(np.float32), projection.astype(np.float32), source_model_version)

    def apply(self, vectors: np.ndarray) -> np.ndarray:
        """Whitened, L2-normalised float32 (n, out_dim)."""
        x = np.asarray(vectors, dtype=np.float32)
        if x.ndim == 1:
            x = x[None, :]
        if x.shape[1] != self.in_dim:
            raise ModelError(
                f"whitening {self.version} expects {self.in_dim}-dimensional descriptors, got {x.shape[1]}: "
                "the embedding model changed, run `navee-monitor index rebuild`"
            )
        return l2_normalise((x - self.mean) @ self.projection)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".whitening.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, format=np.array(FORMAT), mean=self.mean, projection=self.projection,
                         source_model_version=np.array(self.source_model_version), version=np.array(self.version))
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    @classmethod
    def load(cls, path: str | Path) -> Whitening:
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as npz:
                if str(npz["format"]) != FORMAT:
                    raise ModelError(f"{path} is not a navee-monitor whitening file")
                w = cls(npz["mean"].astype(np.float32), npz["projection"].astype(np.float32),
                        str(npz["source_model_version"]))
                stored = str(npz["version"])
        except FileNotFoundError as exc:
            raise ModelError(f"whitening file {path} does not exist: run `navee-monitor index rebuild`") from exc
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            raise ModelError(f"whitening file {path} is unreadable ({exc}): run `navee-monitor index rebuild`") from exc
        if stored != w.version:
            raise ModelError(f"whitening file {path} is damaged (version mismatch): run `navee-monitor index rebuild`")
        return w
