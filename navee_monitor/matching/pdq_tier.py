"""The PDQ tier: identical and near-identical copies, answered by hash distance.

All references' PDQ hashes (256 bits) sit in one uint8 matrix; a query's
eight dihedral variants (flips, 90-degree rotations) are compared with a
vectorised XOR + popcount. Hashes of low quality (flat images) are left out:
Meta's guidance is that quality < 50 is unreliable.
"""

from __future__ import annotations

import numpy as np

MIN_QUALITY = 50
_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def hex_to_bytes(hexes: list[str]) -> np.ndarray:
    if not hexes:
        return np.zeros((0, 32), dtype=np.uint8)
    return np.frombuffer(bytes.fromhex("".join(hexes)), dtype=np.uint8).reshape(-1, 32)


class PdqTier:
    def __init__(self, keys: list[str], hashes: list[str]):
        self.keys = keys
        self.matrix = hex_to_bytes(hashes)

    @classmethod
    def from_references(cls, rows) -> PdqTier:
        """``rows``: (key, pdq_hex, quality) of the references."""
        keep = [(k, h) for k, h, q in rows if h and (q is None or q >= MIN_QUALITY)]
        return cls([k for k, _ in keep], [h for _, h in keep])

    def distances(self, query_hashes: list[str]) -> np.ndarray:
        """Best distance over the query's variants, per reference."""
        if not len(self.keys) or not query_hashes:
            return np.full(len(self.keys), 256, dtype=np.int32)
        q = hex_to_bytes(query_hashes)  # (v, 32)
        xor = np.bitwise_xor(self.matrix[None, :, :], q[:, None, :])  # (v, n, 32)
        return _POPCOUNT[xor].sum(axis=2, dtype=np.int32).min(axis=0)

    def near(self, image: np.ndarray, max_distance: int) -> list[tuple[str, int]]:
        from navee_monitor.descriptors.hashing import pdq_dihedral_with_quality

        if not len(self.keys):
            return []
        hashes, quality = pdq_dihedral_with_quality(image)
        if quality < MIN_QUALITY:
            return []
        d = self.distances(hashes)
        idx = np.flatnonzero(d <= max_distance)
        return [(self.keys[i], int(d[i])) for i in idx[np.argsort(d[idx])]]
