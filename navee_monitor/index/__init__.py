"""Vector index of the reference embeddings.

Four implementations of :class:`navee_monitor.index.base.VectorIndex`, chosen
by ``index.kind``: ``exact`` (brute force), ``lsh`` (random hyperplanes,
multi-probe, exact re-ranking), ``itq`` (learned hashing, same machinery) and
``faiss`` (HNSW graph). All persist under one directory with an atomic
manifest and record the embedding model version of their vectors.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from navee_monitor.errors import IndexError_
from navee_monitor.index.base import VectorIndex
from navee_monitor.index.exact import ExactIndex
from navee_monitor.index.faiss_hnsw import FaissHNSWIndex
from navee_monitor.index.itq import ITQIndex
from navee_monitor.index.lsh import LSHIndex
from navee_monitor.index.persist import read_manifest
from navee_monitor.settings import IndexSettings

__all__ = [
    "ExactIndex",
    "FaissHNSWIndex",
    "ITQIndex",
    "LSHIndex",
    "VectorIndex",
    "build_index",
    "index_from_vectors",
    "load_index",
]

_KINDS = {cls.kind: cls for cls in (ExactIndex, LSHIndex, ITQIndex, FaissHNSWIndex)}


def build_index(settings: IndexSettings, model_version: str, dim: int) -> VectorIndex:
    """An empty index of the configured kind for ``dim``-d vectors of ``model_version``."""
    if settings.kind == "exact":
        return ExactIndex(model_version, dim)
    hash_params = {"bits": settings.bits, "tables": settings.tables, "probes": settings.probes, "seed": settings.seed,
                   "search": settings.search, "candidates": settings.candidates}
    if settings.kind == "lsh":
        return LSHIndex(model_version, dim, **hash_params)
    if settings.kind == "itq":
        return ITQIndex(model_version, dim, min_train=settings.itq_min_train, **hash_params)
    if settings.kind == "faiss":
        return FaissHNSWIndex(
            model_version, dim, settings.faiss_hnsw_m, settings.faiss_ef_construction, settings.faiss_ef_search,
            settings.faiss_threads,
        )
    raise IndexError_(f"unknown index.kind {settings.kind!r}; use one of {sorted(_KINDS)}")


def index_from_vectors(
    settings: IndexSettings, model_version: str, keys: Sequence[str], vectors: np.ndarray
) -> VectorIndex:
    """Build a fresh index holding ``keys`` -> ``vectors`` (what ``index rebuild`` needs)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2:
        raise IndexError_(f"vectors must be a 2-d array, got shape {vectors.shape}")
    index = build_index(settings, model_version, vectors.shape[1])
    if len(keys):
        index.add(keys, vectors)
    return index


def load_index(directory: Path, expected_model_version: str) -> VectorIndex:
    """Open the index saved in ``directory`` (arrays memory-mapped).

    Raises :class:`IndexError_` when it was built by another embedding model:
    its vectors cannot be compared with the current model's.
    """
    directory = Path(directory)
    manifest = read_manifest(directory)
    found = manifest.get("model_version")
    if found != expected_model_version:
        raise IndexError_(
            f"the vector index in {directory} was built with embedding model {found!r}, "
            f"but the current model is {expected_model_version!r}; re-embed the references with "
            "`navee-monitor index rebuild`"
        )
    cls = _KINDS.get(manifest.get("kind"))
    if cls is None:
        raise IndexError_(f"the index in {directory} has unknown kind {manifest.get('kind')!r}")
    return cls._load(directory, manifest)
