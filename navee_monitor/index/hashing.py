"""Compact multi-table hash buckets and multi-probe lookup.

Each of the L tables is a pair of arrays sorted by code: ``codes[t]`` (K-bit
codes, uint32 up to 32 bits) and ``rows[t]`` (int32). A bucket is the run of
equal codes, found with ``np.searchsorted``: 8 bytes per row and table, no
Python objects. New rows go to a small sorted "pending" run that is merged
into the main run once it grows past a fraction of it, so adding a few rows
at a time never re-sorts a million (the amortised cost of an add stays O(L)
array moves per row).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from navee_monitor.procs import one_openmp_thread

#: the pending run is merged into the main run past max(MERGE_MIN, main / MERGE_FRACTION)
MERGE_MIN = 8192
MERGE_FRACTION = 16
#: at most 2**MAX_PROBE_BITS perturbation sets are scored per table
MAX_PROBE_BITS = 12


def code_dtype(bits: int) -> np.dtype:
    return np.dtype(np.uint32 if bits <= 32 else np.uint64)


def encode(projections: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """(..., K) projections -> (...) codes: bit j set when projection j is positive."""
    bits = projections.shape[-1]
    weights = np.left_shift(np.uint64(1), np.arange(bits, dtype=np.uint64))
    return ((projections > 0).astype(np.uint64) * weights).sum(axis=-1, dtype=np.uint64).astype(dtype)


@lru_cache(maxsize=16)
def _subsets(m: int) -> np.ndarray:
    """(2**m, m) 0/1 matrix of every subset of m bits, the empty subset first."""
    idx = np.arange(2**m, dtype=np.int64)
    return ((idx[:, None] >> np.arange(m)) & 1).astype(np.float32)


def probe_codes(projections: np.ndarray, probes: int, dtype: np.dtype) -> np.ndarray:
    """(Q, L, K) projections -> (Q, L, 1 + probes) bucket codes, home bucket first.

    Multi-probe LSH (Lv et al., 2007): the extra buckets are those reached by
    flipping the bits whose projections lie closest to their hyperplane, in
    the order of the sum of squared distances of the flipped bits (the most
    likely buckets of a near neighbour after the home bucket).
    """
    home = encode(projections, dtype)
    if probes <= 0:
        return home[..., None]
    bits = projections.shape[-1]
    m = min(bits, MAX_PROBE_BITS, max(1, math.ceil(math.log2(probes + 1)) + 2))
    n_sets = min(probes + 1, 2**m)
    distance = np.abs(projections)
    order = np.argsort(distance, axis=-1)[..., :m]  # least confident bits first
    subsets = _subsets(m)
    scores = np.take_along_axis(distance, order, axis=-1) ** 2 @ subsets.T  # (Q, L, 2**m)
    if n_sets < scores.shape[-1]:
        pick = np.argpartition(scores, n_sets - 1, axis=-1)[..., :n_sets]
    else:
        pick = np.broadcast_to(np.arange(n_sets), scores.shape[:-1] + (n_sets,))
    pick = np.take_along_axis(pick, np.argsort(np.take_along_axis(scores, pick, axis=-1), axis=-1), axis=-1)
    bit_values = np.left_shift(np.uint64(1), order.astype(np.uint64))  # (Q, L, m)
    chosen = subsets[pick].astype(np.uint64)  # (Q, L, P, m)
    masks = (chosen * bit_values[..., None, :]).sum(axis=-1, dtype=np.uint64).astype(dtype)
    return home[..., None] ^ masks


def _merge_sorted(codes_a, rows_a, codes_b, rows_b):
    """Merge two per-table sorted runs (L, n) into one."""
    n_tables = codes_a.shape[0]
    codes = np.empty((n_tables, codes_a.shape[1] + codes_b.shape[1]), dtype=codes_a.dtype)
    rows = np.empty(codes.shape, dtype=np.int32)
    for t in range(n_tables):
        pos = np.searchsorted(codes_a[t], codes_b[t], side="right")
        codes[t] = np.insert(codes_a[t], pos, codes_b[t])
        rows[t] = np.insert(rows_a[t], pos, rows_b[t])
    return codes, rows


def _sort_run(codes: np.ndarray, rows: np.ndarray):
    """(L, n) codes and rows -> each table sorted by code."""
    order = np.argsort(codes, axis=1, kind="stable")
    return np.take_along_axis(codes, order, axis=1), np.take_along_axis(rows, order, axis=1).astype(np.int32)


class CodeTables:
    """L sorted (code, row) tables: a main run (may be memory-mapped) and a pending run."""

    def __init__(self, n_tables: int, dtype: np.dtype):
        self.n_tables = n_tables
        self.dtype = np.dtype(dtype)
        self.codes = np.empty((n_tables, 0), dtype=self.dtype)
        self.rows = np.empty((n_tables, 0), dtype=np.int32)
        self._p_codes = np.empty((n_tables, 0), dtype=self.dtype)
        self._p_rows = np.empty((n_tables, 0), dtype=np.int32)

    @property
    def size(self) -> int:
        return self.codes.shape[1] + self._p_codes.shape[1]

    def insert(self, codes: np.ndarray, rows: np.ndarray) -> None:
        """Add rows with their (n, L) codes."""
        if len(rows) == 0:
            return
        if rows.max() >= np.iinfo(np.int32).max:
            raise OverflowError("more than 2**31 rows in one index")
        new_codes, new_rows = _sort_run(np.ascontiguousarray(codes.T), np.broadcast_to(rows, codes.T.shape))
        self._p_codes, self._p_rows = _merge_sorted(self._p_codes, self._p_rows, new_codes, new_rows)
        if self._p_codes.shape[1] > max(MERGE_MIN, self.codes.shape[1] // MERGE_FRACTION):
            self.flush()

    def flush(self) -> None:
        """Merge the pending run into the main run."""
        if self._p_codes.shape[1]:
            self.codes, self.rows = _merge_sorted(self.codes, self.rows, self._p_codes, self._p_rows)
            self._p_codes = np.empty((self.n_tables, 0), dtype=self.dtype)
            self._p_rows = np.empty((self.n_tables, 0), dtype=np.int32)

    def lookup(self, probes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(Q, L, P) probe codes -> (query ids, rows) of every row in a probed bucket (repeats possible)."""
        n_q, _, n_p = probes.shape
        qid_of_probe = np.repeat(np.arange(n_q), n_p)
        out_q, out_r = [], []
        for t in range(self.n_tables):
            wanted = probes[:, t, :].ravel()
            for codes, rows in ((self.codes[t], self.rows[t]), (self._p_codes[t], self._p_rows[t])):
                if len(codes) == 0:
                    continue
                lo = np.searchsorted(codes, wanted, side="left")
                hi = np.searchsorted(codes, wanted, side="right")
                counts = hi - lo
                total = int(counts.sum())
                if total == 0:
                    continue
                run_start = np.cumsum(counts) - counts
                idx = np.repeat(lo - run_start, counts) + np.arange(total)
                out_q.append(np.repeat(qid_of_probe, counts))
                out_r.append(rows[idx])
        if not out_q:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        return np.concatenate(out_q), np.concatenate(out_r).astype(np.int64)

    def compacted(self, remap: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Main-run arrays with pending merged, dead rows dropped, rows renumbered by ``remap``."""
        self.flush()
        new_rows = remap[self.rows]  # (L, n) new row or -1
        n_keep = int((new_rows[0] >= 0).sum())  # every table holds every row once
        codes = np.empty((self.n_tables, n_keep), dtype=self.dtype)
        rows = np.empty((self.n_tables, n_keep), dtype=np.int32)
        for t in range(self.n_tables):
            keep = new_rows[t] >= 0
            codes[t] = self.codes[t][keep]  # order by code is preserved
            rows[t] = new_rows[t][keep]
        return codes, rows

    def nbytes(self) -> int:
        return self.codes.nbytes + self.rows.nbytes + self._p_codes.nbytes + self._p_rows.nbytes


# -- packed codes and Hamming ranking ---------------------------------------------------
def code_bytes(n_bits: int) -> int:
    """Bytes of one packed code: whole 64-bit words (FAISS has fast Hamming kernels for 8/16/32/64 bytes)."""
    return 8 * -(-int(n_bits) // 64)


def pack_codes(projections: np.ndarray) -> np.ndarray:
    """(n, B) projections -> (n, code_bytes(B)) uint8: bit b of the code = projection b > 0.

    Little-endian bit order inside each byte, zero padding up to whole words.
    """
    n, n_bits = projections.shape
    packed = np.packbits(projections > 0, axis=1, bitorder="little")
    out = np.zeros((n, code_bytes(n_bits)), dtype=np.uint8)
    out[:, : packed.shape[1]] = packed
    return out


def popcount_distance(codes: np.ndarray, query: np.ndarray) -> np.ndarray:
    """(m, B) codes, (m, B) or (B,) query codes -> (m,) Hamming distances."""
    return np.bitwise_count(codes ^ query).sum(axis=-1, dtype=np.uint16)


def hamming_knn(queries: np.ndarray, codes: np.ndarray, count: int, alive: np.ndarray | None = None):
    """(Q, B) query codes against (n, B) codes -> (distances, rows), each (Q, min(count, n)).

    FAISS's counting Hamming k-NN (``hammings_knn_mc``): one pass over the
    codes with a popcount kernel and a histogram of distances per query, so the
    cost hardly grows with ``count`` (a heap would). Nearest first, ties by
    lowest row; ``alive`` (bool per row) leaves dead rows out (row -1 when fewer
    than ``count`` are left).
    """
    import faiss  # imported here: the rest of the module (buckets, packing) is plain numpy

    n, n_bytes = codes.shape
    count = min(int(count), n)
    distances = np.empty((len(queries), count), dtype=np.int32)
    rows = np.empty((len(queries), count), dtype=np.int64)
    if count == 0 or len(queries) == 0:
        return distances, rows
    selector = None
    if alive is not None:
        bitmap = np.packbits(alive, bitorder="little")
        selector = faiss.IDSelectorBitmap(n, faiss.swig_ptr(bitmap))
    queries = np.ascontiguousarray(queries, dtype=np.uint8)
    codes = np.ascontiguousarray(codes)  # a no-op for the stored arrays (mapped ones included)
    with one_openmp_thread():
        faiss.hammings_knn_mc(
            faiss.swig_ptr(queries), faiss.swig_ptr(codes), len(queries), n, count, n_bytes,
            faiss.swig_ptr(distances), faiss.swig_ptr(rows), selector,
        )
    return distances, rows


class PackedCodes:
    """The full L*K-bit code of every row, packed row-major (``code_bytes`` bytes a row).

    A memory-mapped base of shape (n, B) plus an in-memory growable tail, so
    adding rows after a load never copies the mapped part.
    """

    def __init__(self, n_bits: int):
        from navee_monitor.index.store import _Growable  # store imports nothing of ours

        self.n_bits = int(n_bits)
        self.n_bytes = code_bytes(self.n_bits)
        self.base = np.empty((0, self.n_bytes), dtype=np.uint8)
        self._tail = _Growable((self.n_bytes,), np.uint8)

    def __len__(self) -> int:
        return len(self.base) + self._tail.n

    def append(self, codes: np.ndarray) -> None:
        self._tail.extend(codes)

    def _parts(self):
        """(first row, (m, B) array) of the base and the tail (no copies)."""
        yield 0, self.base
        if self._tail.n:
            yield len(self.base), self._tail.view

    def nearest(self, queries: np.ndarray, count: int, alive: np.ndarray | None = None) -> list[np.ndarray]:
        """Per query, the sorted rows of the ``count`` nearest live codes (ties: lowest rows)."""
        found_d, found_r = [], []
        for offset, part in self._parts():
            if len(part):
                d, r = hamming_knn(queries, part, count, None if alive is None else alive[offset : offset + len(part)])
                found_d.append(d)
                found_r.append(np.where(r >= 0, r + offset, -1))
        if not found_r:
            return [np.empty(0, dtype=np.int64) for _ in range(len(queries))]
        distances, rows = np.concatenate(found_d, axis=1), np.concatenate(found_r, axis=1)
        out = []
        for d, r in zip(distances, rows, strict=True):
            d, r = d[r >= 0], r[r >= 0]
            if len(found_r) > 1:  # base and tail: keep the best ``count`` of both
                r = r[np.lexsort((r, d))[:count]]
            out.append(np.sort(r))
        return out

    def take(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows), B) codes of ``rows``."""
        nb = len(self.base)
        out = np.empty((len(rows), self.n_bytes), dtype=np.uint8)
        in_base = rows < nb
        out[in_base] = self.base[rows[in_base]]
        if not in_base.all():
            out[~in_base] = self._tail.view[rows[~in_base] - nb]
        return out

    def compacted(self, alive: np.ndarray) -> np.ndarray:
        return np.concatenate([part[alive[off : off + len(part)]] for off, part in self._parts()])

    def load_base(self, array: np.ndarray) -> bool:
        """Use a stored (n, B) uint8 array as the base; False when it is not one.

        Indexes saved before the row-major layout hold (W, n) little-endian
        uint64 words: the same bytes once transposed, converted in memory here
        (mapped again from the next save).
        """
        if array.dtype == np.uint64 and array.ndim == 2 and array.shape[0] == self.n_bytes // 8:
            array = np.ascontiguousarray(array.T).view(np.uint8)
        if array.dtype != np.uint8 or array.ndim != 2 or array.shape[1] != self.n_bytes:
            return False
        self.base = array
        return True

    def nbytes(self) -> int:
        return self.base.nbytes + self._tail.nbytes
