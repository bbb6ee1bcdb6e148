"""descriptors stage of navee-monitor: CNN embeddings, PDQ hashes, local features.

Importing this package does not import TensorFlow: :func:`build_embedder`
loads it on first call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from navee_monitor.descriptors.base import Embedder
from navee_monitor.descriptors.hashing import (
    PDQ_MATCH_DISTANCE,
    PDQ_MIN_QUALITY,
    pdq_distance,
    pdq_hash,
    pdq_hashes_dihedral,
    pdq_min_distance,
)
from navee_monitor.descriptors.local_features import (
    FeatureCache,
    LocalFeatureSet,
    HomographyFit,
    count_inliers,
    extract_local_features,
    fit_homography,
)
from navee_monitor.descriptors.versions import ensure_same_version
from navee_monitor.descriptors.whitening import Whitening

if TYPE_CHECKING:
    from navee_monitor.settings import Settings


def build_embedder(settings: Settings) -> Embedder:
    """The configured backbone (``settings.embedding``), weights loaded; imports TensorFlow."""
    from navee_monitor.descriptors.embedder import build_embedder as _build

    return _build(settings)


__all__ = [
    "PDQ_MATCH_DISTANCE", "PDQ_MIN_QUALITY", "Embedder", "FeatureCache", "LocalFeatureSet", "Whitening",
    "HomographyFit", "build_embedder", "count_inliers", "fit_homography", "ensure_same_version", "extract_local_features", "pdq_distance",
    "pdq_hash", "pdq_hashes_dihedral", "pdq_min_distance",
]
