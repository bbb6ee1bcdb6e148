"""Learning to hash: iterative quantization (ITQ, Gong & Lazebnik 2011).

The hash functions are learned from the reference vectors: centre them, keep
K principal directions (PCA), then find the rotation R of those K coordinates
that minimises the quantization error ||sign(VR) - VR||^2 by alternating
between the codes and an orthogonal Procrustes step. The learned hyperplanes
follow the data, so K bits separate neighbours better than K random ones.

For bucket search (``search: buckets``), table 0 uses the top-K principal
directions and every other table a random K-dimensional subspace of the
top-2K ones (then its own ITQ rotation): the tables stay different, so a
neighbour missed by one is found by another, while every table still cuts
along high-variance directions. For Hamming ranking (``search: hamming``) the
L*K bits are one code: PCA to min(L*K, dim) directions and one ITQ rotation of
them (further blocks of ``dim`` bits, if any, each rotate the whole principal
basis at random before their own ITQ), so no two bits repeat a direction.

The hashing is learned once the index holds ``min_train`` vectors (before
that, queries are answered exactly, which is cheap at that size); later adds
are hashed with the learned functions. ``retrain()`` re-learns them from the
current vectors (a rebuild does that too).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from navee_monitor.index.hashing import CodeTables, PackedCodes
from navee_monitor.index.lsh import HashIndex
from navee_monitor.index.persist import IndexWriter, load_array

#: vectors sampled to learn the hashing (PCA and rotations converge long before)
TRAIN_SAMPLE = 100_000
ITERATIONS = 50
#: the joint (Hamming) rotation is up to dim x dim: fewer samples and rounds keep it ~10 s at 256-d
JOINT_TRAIN_SAMPLE = 30_000
JOINT_ITERATIONS = 30


def quantization_error(projected: np.ndarray, rotation: np.ndarray) -> float:
    """Mean squared distance between the rotated points and their binary codes (+-1).

    Use coordinates of unit mean square (the error is not scale-invariant; the
    best rotation is).
    """
    rotated = projected @ rotation
    return float(np.mean((np.sign(rotated) - rotated) ** 2))


def random_rotation(size: int, rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((size, size)))
    return q * np.sign(np.diag(r))


def learn_rotation(projected: np.ndarray, rng: np.random.Generator, iterations: int = ITERATIONS) -> np.ndarray:
    """ITQ: the orthogonal R minimising ||B - V R||_F with B = sign(V R)."""
    rotation = random_rotation(projected.shape[1], rng).astype(projected.dtype)
    for _ in range(iterations):
        codes = np.sign(projected @ rotation)
        codes[codes == 0] = 1
        u, _, vt = np.linalg.svd((projected.T @ codes).astype(np.float64))
        rotation = (u @ vt).astype(projected.dtype)
    return rotation


@dataclass(frozen=True)
class ITQModel:
    mean: np.ndarray  # (dim,)
    projection: np.ndarray  # (dim, L*K): principal directions times rotation, per table

    @classmethod
    def learn_joint(cls, vectors: np.ndarray, n_bits: int, seed: int = 0) -> ITQModel:
        """One ``n_bits`` code: PCA + ITQ rotation per block of at most ``dim`` bits."""
        rng = np.random.default_rng(seed)
        x = vectors.astype(np.float32)
        mean = x.mean(axis=0)
        x -= mean
        _, eigvecs = np.linalg.eigh((x.T @ x).astype(np.float64) / len(x))
        principal = eigvecs[:, ::-1].astype(np.float32)  # descending variance
        dim = x.shape[1]
        blocks, done = [], 0
        while done < n_bits:
            width = min(dim, n_bits - done)
            basis = principal[:, :width] if not blocks else principal @ random_rotation(dim, rng)[:, :width].astype(np.float32)
            blocks.append(basis @ learn_rotation(x @ basis, rng, JOINT_ITERATIONS))
            done += width
        return cls(mean.astype(np.float32), np.concatenate(blocks, axis=1).astype(np.float32))

    @classmethod
    def learn(cls, vectors: np.ndarray, bits: int, tables: int, seed: int = 0) -> ITQModel:
        """Per-table codes for bucket search (see the module docstring)."""
        rng = np.random.default_rng(seed)
        x = vectors.astype(np.float64)
        mean = x.mean(axis=0)
        x -= mean
        _, eigvecs = np.linalg.eigh(x.T @ x / len(x))
        principal = eigvecs[:, ::-1]  # descending variance
        bits_eff = min(bits, x.shape[1])
        wide = principal[:, : min(x.shape[1], 2 * bits_eff)]
        blocks = []
        for t in range(tables):
            if t == 0 or wide.shape[1] == bits_eff:
                basis = principal[:, :bits_eff]
            else:
                basis = wide @ random_rotation(wide.shape[1], rng)[:, :bits_eff]
            rotation = learn_rotation(x @ basis, rng)
            block = basis @ rotation
            if bits_eff < bits:  # more bits than dimensions: repeat directions (degenerate but valid)
                block = np.tile(block, (1, -(-bits // bits_eff)))[:, :bits]
            blocks.append(block)
        return cls(mean.astype(np.float32), np.concatenate(blocks, axis=1).astype(np.float32))


class ITQIndex(HashIndex):
    kind = "itq"

    def __init__(self, model_version: str, dim: int, min_train: int = 1000, **hash_params: Any):
        super().__init__(model_version, dim, **hash_params)
        self.min_train = int(min_train)
        self.model: ITQModel | None = None

    @property
    def hasher_ready(self) -> bool:
        return self.model is not None

    def project(self, unit: np.ndarray) -> np.ndarray:
        assert self.model is not None
        return ((unit - self.model.mean) @ self.model.projection).reshape(len(unit), self.n_tables, self.bits)

    def _on_added(self, rows: np.ndarray, unit: np.ndarray) -> None:
        if self.model is None and len(self) >= self.min_train:
            self.retrain()
        else:
            super()._on_added(rows, unit)

    def retrain(self) -> None:
        """Learn the hashing from the live vectors and re-hash every row."""
        alive_rows = np.flatnonzero(self.store.table.alive)
        rng = np.random.default_rng(self.seed)
        size = TRAIN_SAMPLE if self.uses_buckets else JOINT_TRAIN_SAMPLE
        sample = alive_rows if len(alive_rows) <= size else np.sort(rng.choice(alive_rows, size, replace=False))
        if self.uses_buckets:
            self.model = ITQModel.learn(self.store.gather(sample), self.bits, self.n_tables, self.seed)
        else:
            self.model = ITQModel.learn_joint(self.store.gather(sample), self.bits * self.n_tables, self.seed)
        self.tables = CodeTables(self.n_tables, self.tables.dtype)
        self.codes = PackedCodes(self.n_tables * self.bits)
        # every row, dead ones too: packed codes are addressed by row number
        for start in range(0, self.store.n_rows, 65536):
            rows = np.arange(start, min(start + 65536, self.store.n_rows), dtype=np.int64)
            self._hash_rows(rows, self.store.gather(rows))
        self._dirty = True

    def params(self) -> dict[str, Any]:
        return {**super().params(), "min_train": self.min_train}

    def _write_hasher(self, writer: IndexWriter) -> None:
        if self.model is not None:
            writer.write_array("itq_mean", self.model.mean)
            writer.write_array("itq_projection", self.model.projection)

    def _read_hasher(self, directory: Path, manifest: dict[str, Any]) -> None:
        if "itq_projection" in manifest["files"]:
            self.model = ITQModel(
                np.array(load_array(directory, manifest, "itq_mean", mmap=False)),
                np.array(load_array(directory, manifest, "itq_projection", mmap=False)),
            )
