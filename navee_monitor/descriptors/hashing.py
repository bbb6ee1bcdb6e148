"""PDQ perceptual hashes: the fast exact-copy tier.

Hashes are 64-character hex strings (256 bits; bit 0 of pdqhash's vector is
the most significant bit of the first byte). Meta's guidance: a distance of at
most 31 bits is a match, and a quality under 50 makes the hash unreliable
(flat or tiny images). PDQ does not survive crops, borders or screenshots; it
is a first filter, never the matcher.
"""

from __future__ import annotations

import cv2
import numpy as np
import pdqhash

#: order of :func:`pdq_hashes_dihedral` (pdqhash's order)
DIHEDRAL_NAMES = ("original", "rotate90", "rotate180", "rotate270", "flip_x", "flip_y", "transpose", "transverse")
PDQ_MATCH_DISTANCE = 31
PDQ_MIN_QUALITY = 50


#: images are hashed at most this large: PDQ reduces them to 64x64 anyway, and
#: hashing a 1024-px image costs 6x more for a hash 2-3 bits away (measured)
HASH_MAX_SIDE = 512


def _as_rgb(rgb: np.ndarray) -> np.ndarray:
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 array (H, W, 3), got {rgb.dtype} {rgb.shape}")
    h, w = rgb.shape[:2]
    if max(h, w) > HASH_MAX_SIDE:
        scale = HASH_MAX_SIDE / max(h, w)
        rgb = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(rgb)


def _to_hex(bits: np.ndarray) -> str:
    return np.packbits(bits.astype(np.uint8)).tobytes().hex()


def pdq_hash(rgb: np.ndarray) -> tuple[str, int]:
    """PDQ hash (64 hex characters) and its quality (0-100) of an RGB uint8 image."""
    bits, quality = pdqhash.compute(_as_rgb(rgb))
    return _to_hex(bits), int(quality)


def pdq_hashes_dihedral(rgb: np.ndarray) -> list[str]:
    """The 8 hashes of the image's rotations and flips, in :data:`DIHEDRAL_NAMES` order.

    Store these for references; a query then needs one hash only.
    """
    hashes, _quality = pdqhash.compute_dihedral(_as_rgb(rgb))
    return [_to_hex(h) for h in hashes]


def pdq_dihedral_with_quality(rgb: np.ndarray) -> tuple[list[str], int]:
    """:func:`pdq_hashes_dihedral` and the quality, from one pass over the image."""
    hashes, quality = pdqhash.compute_dihedral(_as_rgb(rgb))
    return [_to_hex(h) for h in hashes], int(quality)


def pdq_distance(hex_a: str, hex_b: str) -> int:
    """Hamming distance (0-256) between two PDQ hex hashes."""
    if len(hex_a) != 64 or len(hex_b) != 64:
        raise ValueError("PDQ hashes are 64 hex characters")
    return (int(hex_a, 16) ^ int(hex_b, 16)).bit_count()


def pdq_min_distance(hex_query: str, candidate_hashes: list[str]) -> int:
    """Smallest distance from a query hash to any of a reference's (dihedral) hashes."""
    return min(pdq_distance(hex_query, h) for h in candidate_hashes)
