"""FAISS HNSW graph index (``faiss-cpu``), vectors stored as float16 inside FAISS.

``IndexHNSWSQ`` with the fp16 scalar quantizer and inner-product metric: on
unit vectors the returned scores are cosine similarities computed on the
float16 vectors, like the re-ranking of the hash indexes. HNSW cannot delete
nodes, so removal is a tombstone (queries skip dead ids through an
``IDSelectorBitmap``); the graph is rebuilt from the live vectors at save time
once more than a quarter of its nodes are dead.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from navee_monitor.errors import IndexError_
from navee_monitor.index.common import SingleQuery, check_model_version, top_k_grouped
from navee_monitor.index.persist import IndexWriter, file_of, fsync_path
from navee_monitor.index.store import KeyTable, normalise_vectors

log = logging.getLogger(__name__)

#: fraction of dead nodes past which a save rebuilds the graph without them
REBUILD_DEAD_FRACTION = 0.25


def _faiss():
    try:
        import faiss
    except ImportError as exc:  # pragma: no cover - faiss-cpu is a dependency
        raise IndexError_("index.kind 'faiss' needs the faiss-cpu package: pip install faiss-cpu") from exc
    return faiss


class FaissHNSWIndex(SingleQuery):
    kind = "faiss"

    def __init__(self, model_version: str, dim: int, m: int = 32, ef_construction: int = 80, ef_search: int = 64,
                 threads: int = 1):
        if not model_version:
            raise IndexError_("an index needs the embedding model version of its vectors")
        self.model_version = model_version
        self.dim = int(dim)
        self.m, self.ef_construction, self.ef_search = int(m), int(ef_construction), int(ef_search)
        self.threads = int(threads)
        if self.threads:
            # FAISS's OpenMP setting is process-wide. Idle OpenMP threads spin-wait:
            # on a shared 2-core machine 2 threads made builds and adds 1.5-2.5x
            # slower than 1 (BENCHMARKS.md)
            _faiss().omp_set_num_threads(self.threads)
        self.table = KeyTable()
        self.graph = self._new_graph()
        self._source: Path | None = None
        self._dirty = False

    def _new_graph(self):
        faiss = _faiss()
        graph = faiss.IndexHNSWSQ(self.dim, faiss.ScalarQuantizer.QT_fp16, self.m, faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efConstruction = self.ef_construction
        return graph

    def __len__(self) -> int:
        return len(self.table)

    def __contains__(self, key: str) -> bool:
        return key in self.table

    def keys(self) -> list[str]:
        return list(self.table.live_keys())

    def check_model(self, model_version: str) -> None:
        check_model_version(self.model_version, model_version)

    def add(self, keys: Sequence[str], vectors: np.ndarray) -> None:
        unit = normalise_vectors(vectors, self.dim)
        keys = KeyTable.check_keys(keys, len(unit))
        kept, _ = self.table.append(keys)
        self.graph.add(np.ascontiguousarray(unit[kept]))
        self._dirty = True

    def remove(self, keys: Sequence[str]) -> int:
        removed = self.table.remove(keys)
        if len(removed):
            self._dirty = True
        return len(removed)

    def query_batch(self, vectors: np.ndarray, k: int) -> list[list[tuple[str, float]]]:
        faiss = _faiss()
        queries = normalise_vectors(vectors, self.dim, what="query vectors")
        if k <= 0 or len(self) == 0:
            return [[] for _ in range(len(queries))]
        k_eff = min(int(k), len(self))
        params = faiss.SearchParametersHNSW()
        params.efSearch = max(self.ef_search, k_eff)
        alive = self.table.alive
        if not alive.all():
            bitmap = np.packbits(alive, bitorder="little")
            params.sel = faiss.IDSelectorBitmap(len(alive), faiss.swig_ptr(bitmap))
        scores, ids = self.graph.search(queries, k_eff, params=params)
        qids = np.repeat(np.arange(len(queries)), k_eff)
        ids, scores = ids.ravel(), scores.ravel()
        found = ids >= 0
        return top_k_grouped(qids[found], ids[found], scores[found], len(queries), k_eff, self.table)

    # -- persistence ----------------------------------------------------------------------
    def _compact(self) -> None:
        """Rebuild the graph from the live vectors (HNSW has no true delete)."""
        alive_rows = np.flatnonzero(self.table.alive)
        vectors = self.graph.reconstruct_batch(alive_rows) if len(alive_rows) else np.empty((0, self.dim), np.float32)
        keys = self.table.keys_of(alive_rows)
        self.table, self.graph = KeyTable(), self._new_graph()
        if keys:
            self.table.append(keys)
            self.graph.add(np.ascontiguousarray(vectors, dtype=np.float32))

    def save(self, directory: Path) -> None:
        faiss = _faiss()
        directory = Path(directory)
        if not self._dirty and self._source is not None and directory.resolve() == self._source.resolve():
            return
        n_rows = self.table.n_rows
        if n_rows and (n_rows - len(self)) > REBUILD_DEAD_FRACTION * n_rows:
            log.info("rebuilding the HNSW graph without %d removed vectors", n_rows - len(self))
            self._compact()
        writer = IndexWriter(directory)
        self.table.write(writer, compact=False)
        path = writer.path_for("graph", ".faiss")
        faiss.write_index(self.graph, str(path))
        fsync_path(path)
        writer.commit(
            {
                "kind": self.kind,
                "model_version": self.model_version,
                "dim": self.dim,
                "count": len(self),
                "rows": self.table.n_rows,
                "params": {
                    "m": self.m, "ef_construction": self.ef_construction, "ef_search": self.ef_search,
                    "threads": self.threads,
                },
            }
        )
        self._dirty, self._source = False, directory

    @classmethod
    def _load(cls, directory: Path, manifest: dict[str, Any]) -> FaissHNSWIndex:
        faiss = _faiss()
        index = cls(manifest["model_version"], int(manifest["dim"]), **manifest.get("params", {}))
        index.table = KeyTable.read(directory, manifest)
        path = file_of(directory, manifest, "graph")
        try:
            # IO_FLAG_MMAP maps the stored vectors where FAISS supports it; the
            # in-place variant (MMAP_IFC) cannot grow, so adds would abort
            index.graph = faiss.read_index(str(path), faiss.IO_FLAG_MMAP)
        except RuntimeError as exc:
            raise IndexError_(f"cannot read FAISS index {path}: {exc}; run `navee-monitor index rebuild`") from exc
        if index.graph.ntotal != index.table.n_rows:
            raise IndexError_(f"FAISS index {path} does not match its keys; run `navee-monitor index rebuild`")
        index._source = Path(directory)
        return index

    def memory_bytes(self) -> int:
        """Graph links + float16 codes as FAISS stores them, plus the key table."""
        links = self.graph.hnsw.neighbors.size() * 4 + self.graph.hnsw.offsets.size() * 8
        return int(links + self.graph.storage.sa_code_size() * self.graph.ntotal + self.table.nbytes())

