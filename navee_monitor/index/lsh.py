"""Hash indexes with exact re-ranking; random-hyperplane LSH.

Every reference gets an L*K-bit code: the signs of its projections on L*K
hyperplanes (K bits for each of L tables). Two ways to find candidates, chosen
by ``search``:

* ``hamming`` (default): rank every reference by the Hamming distance between
  its packed code and the query's (FAISS's popcount k-NN over the packed
  codes: 64 bytes a reference at 512 bits, one sequential pass ~40x cheaper
  than the float scan of the exact index) and keep the ``candidates`` nearest. The angle
  between two vectors is ~ pi * Hamming / bits (Charikar 2002), so this ranks
  by an estimate of the very cosine the re-ranking computes.
* ``buckets``: the classic multi-table LSH of the study: the query visits its
  home bucket and the ``probes`` most likely neighbouring buckets of each table
  (multi-probe), found in sorted code arrays; when more than ``candidates``
  rows turn up, the nearest by Hamming distance are kept.

The candidates are re-ranked by exact cosine similarity on the stored float16
vectors. Scores are therefore exact; only a neighbour left out of the
candidates can be missed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from navee_monitor.errors import IndexError_
from navee_monitor.index.common import StoredIndex
from navee_monitor.index.exact import brute_force_search
from navee_monitor.index.hashing import (
    CodeTables,
    PackedCodes,
    code_dtype,
    encode,
    pack_codes,
    popcount_distance,
    probe_codes,
)
from navee_monitor.index.persist import IndexWriter, load_array

#: queries hashed and re-ranked together (bounds the candidate matrix of a batch)
QUERY_CHUNK = 32
SEARCH_MODES = ("hamming", "buckets")


class HashIndex(StoredIndex):
    """Common machinery of LSH and ITQ: L*K-bit codes, Hamming ranking or buckets, exact re-rank."""

    def __init__(
        self,
        model_version: str,
        dim: int,
        bits: int = 16,
        tables: int = 32,
        probes: int = 16,
        seed: int = 0,
        search: str = "hamming",
        candidates: int = 4000,
    ):
        super().__init__(model_version, dim)
        if not 1 <= bits <= 64:
            raise IndexError_(f"index.bits must be between 1 and 64, got {bits}")
        if tables < 1 or probes < 0:
            raise IndexError_(f"index.tables must be >= 1 and index.probes >= 0, got {tables}, {probes}")
        if search not in SEARCH_MODES:
            raise IndexError_(f"index.search must be one of {SEARCH_MODES}, got {search!r}")
        if candidates < 0 or (search == "hamming" and candidates == 0):
            raise IndexError_(f"index.candidates must be >= 1 for search 'hamming' (>= 0 for 'buckets'), got {candidates}")
        self.bits, self.n_tables, self.probes, self.seed = int(bits), int(tables), int(probes), int(seed)
        self.search, self.candidates = search, int(candidates)
        self.tables = CodeTables(self.n_tables, code_dtype(self.bits))
        self.codes = PackedCodes(self.n_tables * self.bits)

    @property
    def uses_buckets(self) -> bool:
        return self.search == "buckets"

    # -- hashing (subclasses) -------------------------------------------------------------
    @property
    def hasher_ready(self) -> bool:
        return True

    def project(self, unit: np.ndarray) -> np.ndarray:
        """(n, dim) unit vectors -> (n, L, K) signed distances to the hyperplanes."""
        raise NotImplementedError

    def _hash_rows(self, rows: np.ndarray, unit: np.ndarray) -> None:
        projections = self.project(unit)
        self.codes.append(pack_codes(projections.reshape(len(unit), -1)))
        if self.uses_buckets:
            self.tables.insert(encode(projections, self.tables.dtype), rows)

    def _on_added(self, rows: np.ndarray, unit: np.ndarray) -> None:
        if self.hasher_ready:
            self._hash_rows(rows, unit)

    # -- queries --------------------------------------------------------------------------
    def candidates_of(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(query ids, rows) to re-rank (repeats and, in bucket mode, dead rows possible)."""
        projections = self.project(queries)
        words = pack_codes(projections.reshape(len(queries), -1))
        if not self.uses_buckets:
            alive = self.store.table.alive
            has_dead = len(self) < self.store.n_rows
            found = self.codes.nearest(words, self.candidates, alive if has_dead else None)
            qids = np.repeat(np.arange(len(queries)), [len(f) for f in found])
            return qids, np.concatenate(found) if found else np.empty(0, dtype=np.int64)
        qids, rows = self.tables.lookup(probe_codes(projections, self.probes, self.tables.dtype))
        if self.candidates and len(rows) > self.candidates:
            qids, rows = self._cap(qids, rows, words)
        return qids, rows

    def _cap(self, qids: np.ndarray, rows: np.ndarray, words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per query, keep the ``candidates`` bucket rows nearest in Hamming distance."""
        pair = np.unique(qids.astype(np.int64) * np.int64(self.store.n_rows) + rows)
        qids, rows = pair // self.store.n_rows, pair % self.store.n_rows
        distance = popcount_distance(self.codes.take(rows), words[qids])
        order = np.lexsort((distance, qids))
        qids, rows = qids[order], rows[order]
        first = np.searchsorted(qids, qids, side="left")
        keep = (np.arange(len(qids)) - first) < self.candidates
        return qids[keep], rows[keep]

    def _search(self, queries: np.ndarray, k: int) -> list[list[tuple[str, float]]]:
        if not self.hasher_ready:  # too few vectors to learn from yet: exact is cheap
            return brute_force_search(self.store, queries, k)
        results: list[list[tuple[str, float]]] = []
        if not self.uses_buckets:
            # Hamming ranking scans every code per query anyway: re-rank one query
            # at a time (its rows come distinct and sorted, the cheap path)
            for query in queries:
                _, rows = self.candidates_of(query[None, :])
                results.extend(self._rerank(np.zeros(len(rows), np.int64), rows, query[None, :], k, unique_sorted=True))
            return results
        for i in range(0, len(queries), QUERY_CHUNK):
            chunk = queries[i : i + QUERY_CHUNK]
            qids, rows = self.candidates_of(chunk)
            results.extend(self._rerank(qids, rows, chunk, k))
        return results

    # -- persistence ----------------------------------------------------------------------
    def params(self) -> dict[str, Any]:
        return {
            "bits": self.bits,
            "tables": self.n_tables,
            "probes": self.probes,
            "seed": self.seed,
            "search": self.search,
            "candidates": self.candidates,
        }

    def _write_extra(self, writer: IndexWriter, remap: np.ndarray) -> None:
        if self.hasher_ready:
            writer.write_array("packed", self.codes.compacted(self.store.table.alive))
            if self.uses_buckets:
                codes, rows = self.tables.compacted(remap)
                writer.write_array("codes", codes)
                writer.write_array("rows", rows)
        self._write_hasher(writer)

    def _read_extra(self, directory: Path, manifest: dict[str, Any]) -> None:
        self._read_hasher(directory, manifest)
        if self.hasher_ready:
            ok = self.codes.load_base(load_array(directory, manifest, "packed", mmap=True))
            ok = ok and len(self.codes) == self.store.n_rows
            if self.uses_buckets:
                self.tables.codes = load_array(directory, manifest, "codes", mmap=True)
                self.tables.rows = load_array(directory, manifest, "rows", mmap=True)
                ok = ok and self.tables.codes.shape == (self.n_tables, self.store.n_rows)
            if not ok:
                raise IndexError_(f"hash codes in {directory} do not match the vectors; run `navee-monitor index rebuild`")

    def _write_hasher(self, writer: IndexWriter) -> None:
        raise NotImplementedError

    def _read_hasher(self, directory: Path, manifest: dict[str, Any]) -> None:
        raise NotImplementedError

    def memory_bytes(self) -> int:
        return super().memory_bytes() + self.tables.nbytes() + self.codes.nbytes()


def random_hyperplanes(dim: int, count: int, seed: int) -> np.ndarray:
    """(dim, count) random hyperplane normals, orthogonal in blocks of ``dim``.

    Orthogonal normals (Super-Bit LSH, Ji et al. 2012) keep the angle estimate
    unbiased with a lower variance than independent Gaussian ones: at 256 bits
    on 256-d vectors recall@10 rose from 0.95 to 0.97 for the same candidates
    (measured on the benchmark data).
    """
    rng = np.random.default_rng(seed)
    blocks = []
    for start in range(0, count, dim):
        q, r = np.linalg.qr(rng.standard_normal((dim, dim)))
        blocks.append((q * np.sign(np.diag(r)))[:, : min(dim, count - start)])
    return np.concatenate(blocks, axis=1).astype(np.float32)


class LSHIndex(HashIndex):
    """Random-hyperplane LSH (SimHash): bit j of table t is sign(x . h_tj)."""

    kind = "lsh"

    def __init__(self, model_version: str, dim: int, **hash_params: Any):
        super().__init__(model_version, dim, **hash_params)
        self.planes = random_hyperplanes(self.dim, self.n_tables * self.bits, self.seed)

    def project(self, unit: np.ndarray) -> np.ndarray:
        return (unit @ self.planes).reshape(len(unit), self.n_tables, self.bits)

    def _write_hasher(self, writer: IndexWriter) -> None:
        writer.write_array("planes", self.planes)

    def _read_hasher(self, directory: Path, manifest: dict[str, Any]) -> None:
        self.planes = np.array(load_array(directory, manifest, "planes", mmap=False), dtype=np.float32)
