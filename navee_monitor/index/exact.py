"""Brute-force exact index: every stored vector scored against every query.

The trivial implementation of the contract and the ground truth the
approximate indexes are measured against. Vectors stay float16 (mapped after
a load); they are converted to float32 a block at a time while scanning.
"""

from __future__ import annotations

import numpy as np

from navee_monitor.index.common import StoredIndex, top_k_grouped
from navee_monitor.index.store import SCAN_CHUNK_ROWS, VectorStore, to_float32


class ExactIndex(StoredIndex):
    kind = "exact"

    def _search(self, queries: np.ndarray, k: int) -> list[list[tuple[str, float]]]:
        return brute_force_search(self.store, queries, k)


def brute_force_search(store: VectorStore, queries: np.ndarray, k: int) -> list[list[tuple[str, float]]]:
    """Exact top-k of unit ``queries`` over the live rows of ``store``."""
    alive = store.table.alive
    n_q = len(queries)
    best_rows = np.empty((n_q, 0), dtype=np.int64)
    best_scores = np.empty((n_q, 0), dtype=np.float32)
    buffer = np.empty((SCAN_CHUNK_ROWS, store.dim), dtype=np.float32)
    for start, block in store.chunks(SCAN_CHUNK_ROWS):
        scores = to_float32(block, buffer[: len(block)]) @ queries.T  # (rows, queries)
        scores[~alive[start : start + len(block)]] = -np.inf
        take = min(k, len(block))
        part = np.argpartition(-scores, take - 1, axis=0)[:take].T  # (queries, take)
        best_rows = np.concatenate([best_rows, part + start], axis=1)
        best_scores = np.concatenate([best_scores, np.take_along_axis(scores.T, part, axis=1)], axis=1)
        if best_rows.shape[1] > 4 * k:  # keep the running candidate set small
            keep = np.argpartition(-best_scores, k - 1, axis=1)[:, :k]
            best_rows = np.take_along_axis(best_rows, keep, axis=1)
            best_scores = np.take_along_axis(best_scores, keep, axis=1)
    qids = np.repeat(np.arange(n_q), best_rows.shape[1])
    rows, scores = best_rows.ravel(), best_scores.ravel()
    finite = np.isfinite(scores)
    return top_k_grouped(qids[finite], rows[finite], scores[finite], n_q, k, store.table)
