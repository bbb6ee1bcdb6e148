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
#: rows XOR-ed and popcounted per step of a Hamming scan (stays in the CPU caches)
SCAN_ROWS = 65536


def pack_codes(projections: np.ndarray) -> np.ndarray:
    """(n, B) projections -> (W, n) uint64 words, bit b of the code = projection b > 0.

    Word-major: the Hamming scan then reads each word of every row contiguously.
    """
    n, n_bits = projections.shape
    n_words = -(-n_bits // 64)
    packed = np.packbits(projections > 0, axis=1, bitorder="little")
    padded = np.zeros((n, n_words * 8), dtype=np.uint8)
    padded[:, : packed.shape[1]] = packed
    return np.ascontiguousarray(padded.view("<u8").T)


def popcount_distance(codes: np.ndarray, query: np.ndarray) -> np.ndarray:
    """(W, m) codes, (W, m) or (W,) query words -> (m,) uint16 Hamming distances."""
    q = query if query.ndim == 2 else query[:, None]
    return np.bitwise_count(codes ^ q).sum(axis=0, dtype=np.uint16)


def nearest_rows(distances: np.ndarray, count: int) -> np.ndarray:
    """Sorted rows of the ``count`` smallest distances (ties at the cut-off: lowest rows first).

    A histogram of the (small integer) distances gives the cut-off: cheaper than
    a partial sort of a million entries, and deterministic.
    """
    if count >= len(distances):
        return np.arange(len(distances), dtype=np.int64)
    histogram = np.bincount(distances)
    cutoff = int(np.searchsorted(np.cumsum(histogram), count))
    below = np.flatnonzero(distances < cutoff)
    tied = np.flatnonzero(distances == cutoff)[: count - len(below)]
    return np.union1d(below, tied)


class PackedCodes:
    """The full L*K-bit code of every row, packed in uint64 words (8 bytes per 64 bits).

    A memory-mapped base of shape (W, n) plus an in-memory tail of one growable
    array per word, so adding rows after a load never copies the mapped part.
    """

    def __init__(self, n_bits: int):
        from navee_monitor.index.store import _Growable  # store imports nothing of ours

        self.n_bits = int(n_bits)
        self.n_words = -(-self.n_bits // 64)
        self.base = np.empty((self.n_words, 0), dtype=np.uint64)
        self._tail = [_Growable((), np.uint64) for _ in range(self.n_words)]

    def __len__(self) -> int:
        return self.base.shape[1] + self._tail[0].n

    def append(self, words: np.ndarray) -> None:
        for w in range(self.n_words):
            self._tail[w].extend(words[w])

    def _parts(self):
        """(first row, sequence of W word arrays) of the base and the tail (no copies)."""
        yield 0, self.base
        if self._tail[0].n:
            yield self.base.shape[1], [t.view for t in self._tail]

    def distances(self, query: np.ndarray, alive: np.ndarray | None = None) -> np.ndarray:
        """Hamming distance of ``query`` (W,) to every row; dead rows get the maximum."""
        out = np.empty(len(self), dtype=np.uint16)
        xor = np.empty(SCAN_ROWS, dtype=np.uint64)
        ones = np.empty(SCAN_ROWS, dtype=np.uint8)
        for offset, part in self._parts():
            length = len(part[0]) if len(part) else 0
            for start in range(0, length, SCAN_ROWS):
                stop = min(start + SCAN_ROWS, length)
                m = stop - start
                acc = out[offset + start : offset + stop]
                acc[:] = 0
                for w in range(self.n_words):
                    np.bitwise_xor(part[w][start:stop], query[w], out=xor[:m])
                    np.bitwise_count(xor[:m], out=ones[:m])
                    np.add(acc, ones[:m], out=acc)
        if alive is not None:
            out[~alive] = np.iinfo(np.uint16).max
        return out

    def take(self, rows: np.ndarray) -> np.ndarray:
        """(W, len(rows)) codes of ``rows``."""
        nb = self.base.shape[1]
        out = np.empty((self.n_words, len(rows)), dtype=np.uint64)
        in_base = rows < nb
        out[:, in_base] = self.base[:, rows[in_base]]
        if not in_base.all():
            for w, tail in enumerate(self._tail):
                out[w, ~in_base] = tail.view[rows[~in_base] - nb]
        return out

    def compacted(self, alive: np.ndarray) -> np.ndarray:
        blocks = []
        for off, part in self._parts():
            length = len(part[0]) if len(part) else 0
            blocks.append(np.stack([word[alive[off : off + length]] for word in part]) if length else self.base[:, :0])
        return np.concatenate(blocks, axis=1)

    def nbytes(self) -> int:
        return self.base.nbytes + sum(t.nbytes for t in self._tail)
