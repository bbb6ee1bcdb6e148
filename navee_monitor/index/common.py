"""What the stored-vector indexes (exact, LSH, ITQ) share: rows, save/load, top-k."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from navee_monitor.errors import IndexError_
from navee_monitor.index.persist import IndexWriter
from navee_monitor.index.store import KeyTable, VectorStore, normalise_vectors

log = logging.getLogger(__name__)


def top_k_grouped(
    qids: np.ndarray, rows: np.ndarray, scores: np.ndarray, n_queries: int, k: int, table: KeyTable
) -> list[list[tuple[str, float]]]:
    """Per query, the ``k`` best (key, score), highest first; ties broken by row for stability."""
    results: list[list[tuple[str, float]]] = [[] for _ in range(n_queries)]
    if len(rows) == 0 or k <= 0:
        return results
    order = np.lexsort((rows, -scores, qids))
    qids, rows, scores = qids[order], rows[order], scores[order]
    starts = np.searchsorted(qids, np.arange(n_queries), side="left")
    ends = np.searchsorted(qids, np.arange(n_queries), side="right")
    for q in range(n_queries):
        stop = min(ends[q], starts[q] + k)
        keys = table.keys_of(rows[starts[q] : stop])
        results[q] = [(key, float(s)) for key, s in zip(keys, scores[starts[q] : stop].tolist(), strict=True)]
    return results


def check_model_version(held: str, given: str) -> None:
    """Refuse vectors from another embedding model (their scores would be meaningless)."""
    if given != held:
        raise IndexError_(
            f"this index holds vectors of model {held!r}, got {given!r}; "
            "run `navee-monitor index rebuild` after changing the model"
        )


class SingleQuery:
    """``query(vector, k)`` of every index: one row of ``query_batch``."""

    def query(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        vec = np.asarray(vector, dtype=np.float32)
        if vec.ndim != 1:
            raise IndexError_(f"query() takes one vector, got shape {vec.shape}; use query_batch()")
        return self.query_batch(vec[None, :], k)[0]  # type: ignore[attr-defined]


class StoredIndex(SingleQuery):
    """Base of the indexes that keep their own float16 vectors for exact scoring."""

    kind: ClassVar[str]

    def __init__(self, model_version: str, dim: int):
        if not model_version:
            raise IndexError_("an index needs the embedding model version of its vectors")
        if dim <= 0:
            raise IndexError_(f"vector dimension must be positive, got {dim}")
        self.model_version = model_version
        self.dim = int(dim)
        self.store = VectorStore(self.dim)
        #: where the mapped files came from and whether anything changed since
        self._source: Path | None = None
        self._dirty = False

    def __len__(self) -> int:
        return len(self.store)

    def __contains__(self, key: str) -> bool:
        return key in self.store.table

    def keys(self) -> list[str]:
        return list(self.store.table.live_keys())

    def check_model(self, model_version: str) -> None:
        check_model_version(self.model_version, model_version)

    # -- mutations ---------------------------------------------------------------------
    def add(self, keys: Sequence[str], vectors: np.ndarray) -> None:
        rows, unit, _replaced = self.store.append(keys, vectors)
        self._dirty = True
        self._on_added(rows, unit)

    def _on_added(self, rows: np.ndarray, unit: np.ndarray) -> None:
        """Hook: index the new rows (their float32 unit vectors are given)."""

    def remove(self, keys: Sequence[str]) -> int:
        removed = self.store.table.remove(keys)
        if len(removed):
            self._dirty = True
        return len(removed)

    # -- queries -----------------------------------------------------------------------
    def query_batch(self, vectors: np.ndarray, k: int) -> list[list[tuple[str, float]]]:
        queries = normalise_vectors(vectors, self.dim, what="query vectors")
        if k <= 0 or len(self) == 0:
            return [[] for _ in range(len(queries))]
        return self._search(queries, int(k))

    def _search(self, queries: np.ndarray, k: int) -> list[list[tuple[str, float]]]:
        raise NotImplementedError

    def _rerank(
        self, qids: np.ndarray, rows: np.ndarray, queries: np.ndarray, k: int, unique_sorted: bool = False
    ) -> list[list[tuple[str, float]]]:
        """Exact cosine of candidate (query, row) pairs -> top-k per query (dead rows dropped).

        ``unique_sorted``: the pairs are already distinct and sorted by (query, row).
        """
        if len(rows):
            if not unique_sorted:
                n_rows = np.int64(self.store.n_rows)
                pair = np.unique(qids.astype(np.int64) * n_rows + rows)
                qids, rows = pair // n_rows, pair % n_rows
            live = self.store.table.alive[rows]
            if not live.all():
                qids, rows = qids[live], rows[live]
        if len(queries) == 1:  # one query: rows sorted, a mapped file is read front to back
            scores = self.store.gather(rows) @ queries[0]
            if len(rows) > k:  # only the best k need sorting and key look-ups
                best = np.argpartition(-scores, k - 1)[:k]
                qids, rows, scores = qids[best], rows[best], scores[best]
            return top_k_grouped(qids, rows, scores, 1, k, self.store.table)
        scores = np.empty(len(rows), dtype=np.float32)
        # gather in sorted row order (a mapped file is then read front to back)
        order = np.argsort(rows, kind="stable")
        vecs = self.store.gather(rows[order])
        scores[order] = np.einsum("ij,ij->i", vecs, queries[qids[order]])
        return top_k_grouped(qids, rows, scores, len(queries), k, self.store.table)

    # -- persistence -------------------------------------------------------------------
    def params(self) -> dict[str, Any]:
        """Construction parameters recorded in the manifest (and given back to ``_restore``)."""
        return {}

    def save(self, directory: Path) -> None:
        directory = Path(directory)
        if not self._dirty and self._source is not None and directory.resolve() == self._source.resolve():
            return  # the files there are exactly this index
        writer = IndexWriter(directory)
        remap = self.store.write(writer)
        self._write_extra(writer, remap)
        writer.commit(
            {
                "kind": self.kind,
                "model_version": self.model_version,
                "dim": self.dim,
                "count": len(self),
                "rows": len(self),
                "params": self.params(),
            }
        )
        self._dirty, self._source = False, directory
        log.info("saved %s index of %d vectors to %s", self.kind, len(self), directory)

    def _write_extra(self, writer: IndexWriter, remap: np.ndarray) -> None:
        """Hook: write the structures of the subclass, rows renumbered by ``remap``."""

    @classmethod
    def _load(cls, directory: Path, manifest: dict[str, Any]) -> StoredIndex:
        index = cls(manifest["model_version"], int(manifest["dim"]), **manifest.get("params", {}))
        index.store = VectorStore.read(directory, manifest)
        index._read_extra(directory, manifest)
        index._source = Path(directory)
        return index

    def _read_extra(self, directory: Path, manifest: dict[str, Any]) -> None:
        """Hook: read the structures of the subclass."""

    def memory_bytes(self) -> int:
        """Bytes of the arrays (mapped ones included) — the Python key objects come on top."""
        return self.store.nbytes()
