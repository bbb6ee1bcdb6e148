"""Row storage shared by the indexes: string keys, tombstones, float16 vectors.

Rows are only ever appended: adding an existing key tombstones its old row and
appends a new one, removing a key tombstones its row. Saving compacts (drops
dead rows). After a load the saved rows stay memory-mapped read-only and new
rows go to an in-memory tail, so adding never copies the mapped part.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from navee_monitor.errors import IndexError_
from navee_monitor.index.persist import IndexWriter, file_of, load_array

#: rows converted to float32 at a time by brute-force scans
SCAN_CHUNK_ROWS = 32768
_KEY_SEP = "\0"


def normalise_vectors(vectors: np.ndarray, dim: int, what: str = "vectors") -> np.ndarray:
    """Float32 (n, dim), rows L2-normalised; refuses wrong shapes and non-finite values."""
    arr = np.asarray(vectors, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != dim:
        raise IndexError_(f"{what} have shape {np.shape(vectors)}, this index holds {dim}-d vectors")
    if not np.isfinite(arr).all():
        raise IndexError_(f"{what} contain NaN or infinite values")
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    if (norms == 0).any():
        raise IndexError_(f"{what} contain an all-zero row, which has no direction to compare")
    return arr / norms


def to_float32(half: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """float16 (n, dim) -> float32, with OpenCV's F16C conversion.

    numpy's own float16 cast is scalar code, about 8x slower on these CPUs,
    and it dominated both the brute-force scan and the re-ranking.
    """
    half = np.ascontiguousarray(half)
    if half.ndim != 2 or half.shape[0] == 0 or half.shape[1] > 4096:
        return half.astype(np.float32)
    if out is None:
        out = np.empty(half.shape, dtype=np.float32)
    return cv2.convertFp16(half.view(np.int16), out)


class _Growable:
    """An array that grows along axis 0 with amortised O(1) appends."""

    def __init__(self, shape_tail: tuple[int, ...], dtype, fill=0):
        self._buf = np.full((16, *shape_tail), fill, dtype=dtype)
        self.n = 0

    def extend(self, values: np.ndarray) -> None:
        need = self.n + len(values)
        if need > len(self._buf):
            grown = np.empty((max(need, 2 * len(self._buf)), *self._buf.shape[1:]), dtype=self._buf.dtype)
            grown[: self.n] = self._buf[: self.n]
            self._buf = grown
        self._buf[self.n : need] = values
        self.n = need

    @property
    def view(self) -> np.ndarray:
        return self._buf[: self.n]

    @property
    def nbytes(self) -> int:
        return self._buf.nbytes


class KeyTable:
    """Row <-> key mapping with tombstones."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.row_of: dict[str, int] = {}
        self._alive = _Growable((), np.bool_)

    def __len__(self) -> int:
        return len(self.row_of)

    @property
    def n_rows(self) -> int:
        return len(self.keys)

    @property
    def alive(self) -> np.ndarray:
        return self._alive.view

    @staticmethod
    def check_keys(keys: Sequence[str], n_vectors: int) -> list[str]:
        keys = list(keys)
        if len(keys) != n_vectors:
            raise IndexError_(f"{len(keys)} keys for {n_vectors} vectors")
        for key in keys:
            if not isinstance(key, str) or not key or _KEY_SEP in key:
                raise IndexError_(f"reference key {key!r} is not a non-empty string without NUL characters")
        return keys

    def append(self, keys: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Give each key a new row; returns (positions in ``keys`` kept, tombstoned old rows).

        Within one call the last occurrence of a key wins.
        """
        last = {key: i for i, key in enumerate(keys)}
        kept = np.fromiter(sorted(last.values()), dtype=np.int64, count=len(last))
        replaced = [self.row_of[keys[i]] for i in kept if keys[i] in self.row_of]
        if replaced:
            self._alive.view[np.asarray(replaced)] = False
        start = len(self.keys)
        for offset, i in enumerate(kept):
            key = keys[i]
            self.keys.append(key)
            self.row_of[key] = start + offset
        self._alive.extend(np.ones(len(kept), dtype=np.bool_))
        return kept, np.asarray(replaced, dtype=np.int64)

    def remove(self, keys: Sequence[str]) -> np.ndarray:
        rows = [self.row_of.pop(key) for key in dict.fromkeys(keys) if key in self.row_of]
        rows_arr = np.asarray(rows, dtype=np.int64)
        if rows:
            self._alive.view[rows_arr] = False
        return rows_arr

    def remap(self) -> np.ndarray:
        """Old row -> row after compaction (-1 for dead rows)."""
        alive = self.alive
        new = np.cumsum(alive, dtype=np.int64) - 1
        new[~alive] = -1
        return new

    # -- persistence -------------------------------------------------------------------
    def write(self, writer: IndexWriter, compact: bool) -> None:
        keys = [k for k, a in zip(self.keys, self.alive, strict=True) if a] if compact else self.keys
        writer.write_bytes("keys", _KEY_SEP.join(keys).encode("utf-8"))
        if not compact:
            writer.write_array("alive", self.alive)

    @classmethod
    def read(cls, directory: Path, manifest: dict[str, Any]) -> KeyTable:
        table = cls()
        data = file_of(directory, manifest, "keys").read_bytes().decode("utf-8")
        table.keys = data.split(_KEY_SEP) if data else []
        if "alive" in manifest["files"]:
            alive = np.array(load_array(directory, manifest, "alive", mmap=False), dtype=np.bool_)
        else:
            alive = np.ones(len(table.keys), dtype=np.bool_)
        if len(alive) != len(table.keys) or len(table.keys) != manifest["rows"]:
            raise IndexError_(f"index in {directory} is damaged: key and row counts disagree")
        table._alive.extend(alive)
        table.row_of = {k: i for i, k in enumerate(table.keys) if alive[i]}
        return table


class VectorStore:
    """KeyTable plus float16 unit vectors per row (mapped base + in-memory tail)."""

    def __init__(self, dim: int):
        self.dim = dim
        self.table = KeyTable()
        self._base: np.ndarray = np.empty((0, dim), dtype=np.float16)
        self._tail = _Growable((dim,), np.float16)

    def __len__(self) -> int:
        return len(self.table)

    @property
    def n_rows(self) -> int:
        return len(self._base) + self._tail.n

    def append(self, keys: Sequence[str], vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Returns (new rows, their float32 unit vectors, tombstoned old rows)."""
        unit = normalise_vectors(vectors, self.dim)
        keys = KeyTable.check_keys(keys, len(unit))
        start = self.n_rows
        kept, replaced = self.table.append(keys)
        unit = unit[kept]
        self._tail.extend(unit.astype(np.float16))
        return np.arange(start, start + len(kept), dtype=np.int64), unit, replaced

    def gather(self, rows: np.ndarray) -> np.ndarray:
        """Float32 vectors of ``rows`` (sorted rows read a mapped file in order)."""
        nb = len(self._base)
        if len(rows) == 0 or rows.max() < nb:
            half = self._base[rows]
        elif rows.min() >= nb:
            half = self._tail.view[rows - nb]
        else:
            half = np.empty((len(rows), self.dim), dtype=np.float16)
            in_base = rows < nb
            half[in_base] = self._base[rows[in_base]]
            half[~in_base] = self._tail.view[rows[~in_base] - nb]
        return to_float32(half)

    def chunks(self, size: int = SCAN_CHUNK_ROWS) -> Iterator[tuple[int, np.ndarray]]:
        """(first row, float16 block) over every row, dead ones included."""
        start = 0
        for part in (self._base, self._tail.view):
            for i in range(0, len(part), size):
                yield start + i, part[i : i + size]
            start += len(part)

    def nbytes(self) -> int:
        """Bytes of the in-memory and mapped arrays (Python key objects not included)."""
        return self._base.nbytes + self._tail.nbytes + self.table._alive.nbytes

    # -- persistence -------------------------------------------------------------------
    def write(self, writer: IndexWriter) -> np.ndarray:
        """Write the live rows compacted; returns the old -> new row map."""
        remap = self.table.remap()
        alive = self.table.alive

        def live_chunks():
            for start, block in self.chunks():
                yield block[alive[start : start + len(block)]]

        writer.write_rows("vectors", np.dtype(np.float16), (len(self), self.dim), live_chunks())
        self.table.write(writer, compact=True)
        return remap

    @classmethod
    def read(cls, directory: Path, manifest: dict[str, Any]) -> VectorStore:
        store = cls(int(manifest["dim"]))
        store.table = KeyTable.read(directory, manifest)
        store._base = load_array(directory, manifest, "vectors", mmap=True)
        if store._base.shape != (store.table.n_rows, store.dim) or store._base.dtype != np.float16:
            raise IndexError_(f"index vectors in {directory} do not match the manifest; run `navee-monitor index rebuild`")
        return store
