"""Shared data and index factories for the index tests: one list of all implementations."""

from __future__ import annotations

import faiss
import numpy as np
import pytest

from navee_monitor.index import build_index
from navee_monitor.settings import IndexSettings

# OpenMP threads spin while waiting: on a small shared machine one thread builds
# these test-sized graphs many times faster
faiss.omp_set_num_threads(1)

MODEL = "test-model-v1"
DIM = 32

#: every implementation of the contract, configured for a few thousand vectors
KINDS = {
    "exact": IndexSettings(kind="exact"),
    # Hamming ranking re-ranks 10% of the 3000 test vectors: an index that ranked
    # badly would miss neighbours (and fail the recall assertions)
    "lsh": IndexSettings(kind="lsh", bits=8, tables=8, search="hamming", candidates=300),
    "itq": IndexSettings(kind="itq", bits=8, tables=8, search="hamming", candidates=300, itq_min_train=200),
    # the study's multi-table buckets with multi-probe, bucket candidates capped by Hamming distance
    "lsh-buckets": IndexSettings(kind="lsh", bits=8, tables=10, probes=16, search="buckets", candidates=600),
    "itq-buckets": IndexSettings(kind="itq", bits=8, tables=10, probes=16, search="buckets", itq_min_train=200),
    "faiss": IndexSettings(kind="faiss", faiss_hnsw_m=16, faiss_ef_construction=64, faiss_ef_search=64),
}


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def clustered(n: int, dim: int = DIM, seed: int = 0) -> np.ndarray:
    """Unit vectors in clusters of 10 (members at cosine ~0.8 of each other)."""
    rng = np.random.default_rng(seed)
    centres = unit(rng.standard_normal((n // 10 + 1, dim)))
    members = centres[np.arange(n) // 10] + 0.5 * rng.standard_normal((n, dim)) / np.sqrt(dim)
    return unit(members)


def near_copies(vectors: np.ndarray, noise: float = 0.2, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return unit(vectors + noise * rng.standard_normal(vectors.shape) / np.sqrt(vectors.shape[1]))


@pytest.fixture(scope="module")
def data() -> tuple[list[str], np.ndarray]:
    vectors = clustered(3000)
    return [f"ref-{i}" for i in range(len(vectors))], vectors


@pytest.fixture(params=list(KINDS))
def kind(request) -> str:
    return request.param


@pytest.fixture
def make_index(kind):
    def _make(model_version: str = MODEL, dim: int = DIM):
        return build_index(KINDS[kind], model_version, dim)

    return _make


@pytest.fixture
def filled(make_index, data):
    keys, vectors = data
    index = make_index()
    index.add(keys, vectors)
    return index
