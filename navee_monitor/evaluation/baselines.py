"""Perceptual-hash baselines, run on the same set as the matcher.

Each baseline hashes every reference and every query, and returns for each
query its ``top_k`` nearest references by Hamming distance, scored
``1 - distance / bits``. An alert is raised at the hash's customary
threshold: PDQ at ``matching.pdq_max_distance`` (Meta: 31 of 256 bits),
pHash at 10 of 64 bits (the usual imagehash advice for near-duplicates).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from navee_monitor.evaluation.metrics import Prediction

PHASH_MAX_DISTANCE = 10


def pdq_bits(rgb: np.ndarray) -> np.ndarray:
    import pdqhash

    bits, _quality = pdqhash.compute(np.ascontiguousarray(rgb, dtype=np.uint8))
    return np.asarray(bits, dtype=bool)


def phash_bits(rgb: np.ndarray) -> np.ndarray:
    import imagehash

    return np.asarray(imagehash.phash(Image.fromarray(rgb)).hash, dtype=bool).ravel()


HASHES = {"pdq": pdq_bits, "phash": phash_bits}


@dataclass
class HashBaseline:
    """Brute-force Hamming nearest neighbours over packed bit vectors."""

    name: str
    max_distance: int
    top_k: int = 10
    keys: list[str] = field(default_factory=list)
    _packed: np.ndarray | None = None
    bits: int = 0

    def hash(self, rgb: np.ndarray) -> np.ndarray:
        return HASHES[self.name](rgb)

    def add_references(self, keys: list[str], images: list[np.ndarray]) -> None:
        vectors = [self.hash(img) for img in images]
        if not vectors:
            return
        self.bits = len(vectors[0])
        packed = np.stack([np.packbits(v) for v in vectors])
        self._packed = packed if self._packed is None else np.concatenate([self._packed, packed])
        self.keys.extend(keys)

    def search(self, qid: str, rgb: np.ndarray) -> list[Prediction]:
        if self._packed is None:
            return []
        q = np.packbits(self.hash(rgb))
        distances = np.unpackbits(np.bitwise_xor(self._packed, q), axis=1).sum(axis=1)
        order = np.argsort(distances, kind="stable")[: self.top_k]
        return [
            Prediction(qid, self.keys[i], 1.0 - float(distances[i]) / self.bits, bool(distances[i] <= self.max_distance))
            for i in order
        ]


def build_baselines(pdq_max_distance: int, top_k: int) -> dict[str, HashBaseline]:
    return {
        "pdq": HashBaseline("pdq", pdq_max_distance, top_k),
        "phash": HashBaseline("phash", PHASH_MAX_DISTANCE, top_k),
    }
