"""Hash-bucket indexes with exact re-ranking; random-hyperplane LSH.

A query hashes into K-bit codes in L tables, visits its home bucket and the
``probes`` most likely neighbouring buckets of each table (multi-probe), and
re-ranks the union of the rows found by exact cosine similarity on the stored
float16 vectors. Scores are therefore exact; only a neighbour that falls in
no probed bucket can be missed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from navee_monitor.errors import IndexError_
from navee_monitor.index.common import StoredIndex
from navee_monitor.index.exact import brute_force_search
from navee_monitor.index.hashing import CodeTables, code_dtype, encode, probe_codes
from navee_monitor.index.persist import IndexWriter, load_array

#: queries hashed and re-ranked together (bounds the candidate matrix of a batch)
QUERY_CHUNK = 32


class HashIndex(StoredIndex):
    """Common machinery of LSH and ITQ: K bits x L tables, multi-probe, exact re-rank."""

    def __init__(self, model_version: str, dim: int, bits: int = 16, tables: int = 8, probes: int = 16, seed: int = 0):
        super().__init__(model_version, dim)
        if not 1 <= bits <= 64:
            raise IndexError_(f"index.bits must be between 1 and 64, got {bits}")
        if tables < 1 or probes < 0:
            raise IndexError_(f"index.tables must be >= 1 and index.probes >= 0, got {tables}, {probes}")
        self.bits, self.n_tables, self.probes, self.seed = int(bits), int(tables), int(probes), int(seed)
        self.tables = CodeTables(self.n_tables, code_dtype(self.bits))

    # -- hashing (subclasses) -------------------------------------------------------------
    @property
    def hasher_ready(self) -> bool:
        return True

    def project(self, unit: np.ndarray) -> np.ndarray:
        """(n, dim) unit vectors -> (n, L, K) signed distances to the hyperplanes."""
        raise NotImplementedError

    def _hash_rows(self, rows: np.ndarray, unit: np.ndarray) -> None:
        self.tables.insert(encode(self.project(unit), self.tables.dtype), rows)

    def _on_added(self, rows: np.ndarray, unit: np.ndarray) -> None:
        if self.hasher_ready:
            self._hash_rows(rows, unit)

    # -- queries --------------------------------------------------------------------------
    def candidates(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(query ids, rows) found in the probed buckets (repeats and dead rows included)."""
        return self.tables.lookup(probe_codes(self.project(queries), self.probes, self.tables.dtype))

    def _search(self, queries: np.ndarray, k: int) -> list[list[tuple[str, float]]]:
        if not self.hasher_ready:  # too few vectors to learn from yet: exact is cheap
            return brute_force_search(self.store, queries, k)
        results: list[list[tuple[str, float]]] = []
        for i in range(0, len(queries), QUERY_CHUNK):
            chunk = queries[i : i + QUERY_CHUNK]
            qids, rows = self.candidates(chunk)
            results.extend(self._rerank(qids, rows, chunk, k))
        return results

    # -- persistence ----------------------------------------------------------------------
    def params(self) -> dict[str, Any]:
        return {"bits": self.bits, "tables": self.n_tables, "probes": self.probes, "seed": self.seed}

    def _write_extra(self, writer: IndexWriter, remap: np.ndarray) -> None:
        if self.hasher_ready:
            codes, rows = self.tables.compacted(remap)
            writer.write_array("codes", codes)
            writer.write_array("rows", rows)
        self._write_hasher(writer)

    def _read_extra(self, directory: Path, manifest: dict[str, Any]) -> None:
        self._read_hasher(directory, manifest)
        if self.hasher_ready:
            self.tables.codes = load_array(directory, manifest, "codes", mmap=True)
            self.tables.rows = load_array(directory, manifest, "rows", mmap=True)
            if self.tables.codes.shape != (self.n_tables, self.store.n_rows):
                raise IndexError_(f"hash tables in {directory} do not match the vectors; run `navee-monitor index rebuild`")

    def _write_hasher(self, writer: IndexWriter) -> None:
        raise NotImplementedError

    def _read_hasher(self, directory: Path, manifest: dict[str, Any]) -> None:
        raise NotImplementedError

    def memory_bytes(self) -> int:
        return super().memory_bytes() + self.tables.nbytes()


class LSHIndex(HashIndex):
    """Random-hyperplane LSH (SimHash): bit j of table t is sign(x . h_tj), h ~ N(0, I)."""

    kind = "lsh"

    def __init__(self, model_version: str, dim: int, bits: int = 16, tables: int = 8, probes: int = 16, seed: int = 0):
        super().__init__(model_version, dim, bits, tables, probes, seed)
        rng = np.random.default_rng(seed)
        self.planes = rng.standard_normal((self.dim, self.n_tables * self.bits)).astype(np.float32)

    def project(self, unit: np.ndarray) -> np.ndarray:
        return (unit @ self.planes).reshape(len(unit), self.n_tables, self.bits)

    def _write_hasher(self, writer: IndexWriter) -> None:
        writer.write_array("planes", self.planes)

    def _read_hasher(self, directory: Path, manifest: dict[str, Any]) -> None:
        self.planes = np.array(load_array(directory, manifest, "planes", mmap=False), dtype=np.float32)
