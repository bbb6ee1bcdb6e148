"""Row storage shared by the indexes: string keys, tombstones, float16 vectors.

Rows are only ever appended: adding an existing key tombstones its old row and
appends a new one, removing a key tombstones its row. Saving compacts (drops
dead rows). After a load the saved rows stay memory-mapped read-only and new
rows go to an in-memory tail, so adding never copies the mapped part.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from navee_monitor.errors import IndexError_
from navee_monitor.index.persist import IndexWriter, load_array

#: rows converted to float32 at a time by brute-force scans
SCAN_CHUNK_ROWS = 32768
_KEY_SEP = "\0"
#: the pending (hash, row) run is merged into the main run past max(MERGE_MIN, main / MERGE_FRACTION)
MERGE_MIN = 8192
MERGE_FRACTION = 16


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


def _take_rows(array: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``array[rows]`` for a C-contiguous 2-d array, copying whole rows as opaque records.

    numpy's 2-d fancy indexing copies element by element; one void record per
    row is a memcpy each, ~5x faster (it is most of the re-ranking time).
    """
    if array.ndim != 2 or not array.flags.c_contiguous or array.shape[1] == 0:
        return array[rows]
    records = array.view(np.dtype((np.void, array.shape[1] * array.itemsize))).reshape(-1)
    return records[rows].view(array.dtype).reshape(len(rows), array.shape[1])


class _Growable:
    """An array that grows along axis 0 with amortised O(1) appends.

    The buffer grows by half its size (not doubling) so the untouched slack of
    a million-row index stays small; untouched pages of ``np.empty`` are never
    resident anyway, :attr:`nbytes` counts the rows in use.
    """

    def __init__(self, shape_tail: tuple[int, ...], dtype, fill=0):
        self._buf = np.full((16, *shape_tail), fill, dtype=dtype)
        self.n = 0

    def extend(self, values: np.ndarray) -> None:
        need = self.n + len(values)
        if need > len(self._buf):
            grown = np.empty((max(need, len(self._buf) + len(self._buf) // 2), *self._buf.shape[1:]), dtype=self._buf.dtype)
            grown[: self.n] = self._buf[: self.n]
            self._buf = grown
        self._buf[self.n : need] = values
        self.n = need

    @property
    def view(self) -> np.ndarray:
        return self._buf[: self.n]

    @property
    def nbytes(self) -> int:
        return self.view.nbytes


class _Segmented:
    """A 1-d array made of a (possibly memory-mapped, read-only) base and an in-memory tail."""

    def __init__(self, dtype):
        self.base: np.ndarray = np.empty(0, dtype=dtype)
        self.tail = _Growable((), dtype)

    def __len__(self) -> int:
        return len(self.base) + self.tail.n

    def __getitem__(self, i: int):
        nb = len(self.base)
        return self.base[i] if i < nb else self.tail.view[i - nb]

    def take(self, idx: np.ndarray) -> np.ndarray:
        nb = len(self.base)
        if len(idx) == 0 or idx.max() < nb:
            return self.base[idx]
        out = np.empty(len(idx), dtype=self.base.dtype)
        in_base = idx < nb
        out[in_base] = self.base[idx[in_base]]
        out[~in_base] = self.tail.view[idx[~in_base] - nb]
        return out

    def full(self) -> np.ndarray:
        return np.concatenate([self.base, self.tail.view]) if self.tail.n else self.base

    @property
    def nbytes(self) -> int:
        return self.base.nbytes + self.tail.nbytes


def hash_keys(encoded: Sequence[bytes]) -> np.ndarray:
    """Stable 64-bit hashes of UTF-8 keys (persisted, so not Python's salted ``hash``)."""
    return np.fromiter(
        (int.from_bytes(hashlib.blake2b(k, digest_size=8).digest(), "little") for k in encoded),
        dtype=np.uint64,
        count=len(encoded),
    )


class KeyTable:
    """Row <-> key mapping with tombstones, in flat arrays (no per-key Python objects).

    Keys are UTF-8 bytes in one blob with row offsets (``offsets[r]:offsets[r+1]``).
    Key -> row goes through a 64-bit hash: a sorted (hash, row) run (memory-mapped
    after a load) plus a small sorted pending run merged in when it grows, as the
    hash tables do; equal hashes are told apart by comparing the key bytes, and
    only live rows count. Every row keeps its (hash, row) entry until a save
    compacts the dead ones away. About 30 bytes per key besides the key itself.
    """

    def __init__(self) -> None:
        self._blob = _Segmented(np.uint8)
        self._offsets = _Segmented(np.int64)
        self._offsets.tail.extend(np.zeros(1, dtype=np.int64))
        self._alive = _Growable((), np.bool_)
        self._h_main = np.empty(0, dtype=np.uint64)
        self._r_main = np.empty(0, dtype=np.int64)
        self._h_pend = np.empty(0, dtype=np.uint64)
        self._r_pend = np.empty(0, dtype=np.int64)
        self._n_live = 0

    def __len__(self) -> int:
        return self._n_live

    def __contains__(self, key: str) -> bool:
        return bool(self.rows_of([key])[0] >= 0)

    @property
    def n_rows(self) -> int:
        return self._alive.n

    @property
    def alive(self) -> np.ndarray:
        return self._alive.view

    # -- keys of rows --------------------------------------------------------------------
    def _key_bytes(self, row: int) -> bytes:
        start, stop = int(self._offsets[row]), int(self._offsets[row + 1])
        nb = len(self._blob.base)
        if stop <= nb:
            return self._blob.base[start:stop].tobytes()
        if start >= nb:
            return self._blob.tail.view[start - nb : stop - nb].tobytes()
        return self._blob.base[start:].tobytes() + self._blob.tail.view[: stop - nb].tobytes()

    def key_of(self, row: int) -> str:
        return self._key_bytes(int(row)).decode("utf-8")

    def keys_of(self, rows) -> list[str]:
        return [self._key_bytes(r).decode("utf-8") for r in np.asarray(rows, dtype=np.int64).tolist()]

    def live_keys(self) -> Iterator[str]:
        for row in np.flatnonzero(self.alive).tolist():
            yield self.key_of(row)

    # -- key -> row ----------------------------------------------------------------------
    def _find(self, encoded: list[bytes], hashes: np.ndarray) -> np.ndarray:
        found = np.full(len(encoded), -1, dtype=np.int64)
        alive = self.alive
        for h_run, r_run in ((self._h_main, self._r_main), (self._h_pend, self._r_pend)):
            if len(h_run) == 0:
                continue
            lo = np.searchsorted(h_run, hashes, side="left")
            hi = np.searchsorted(h_run, hashes, side="right")
            for i in np.flatnonzero(hi > lo).tolist():
                for j in range(int(lo[i]), int(hi[i])):
                    row = int(r_run[j])
                    if alive[row] and self._key_bytes(row) == encoded[i]:
                        found[i] = row
        return found

    def rows_of(self, keys: Sequence[str]) -> np.ndarray:
        """Live row of each key, -1 when absent."""
        encoded = [k.encode("utf-8") for k in keys]
        return self._find(encoded, hash_keys(encoded))

    def _index_hashes(self, hashes: np.ndarray, rows: np.ndarray) -> None:
        order = np.argsort(hashes, kind="stable")
        h_new, r_new = hashes[order], rows[order]
        pos = np.searchsorted(self._h_pend, h_new, side="right")
        self._h_pend = np.insert(self._h_pend, pos, h_new)
        self._r_pend = np.insert(self._r_pend, pos, r_new)
        if len(self._h_pend) > max(MERGE_MIN, len(self._h_main) // MERGE_FRACTION):
            pos = np.searchsorted(self._h_main, self._h_pend, side="right")
            self._h_main = np.insert(self._h_main, pos, self._h_pend)
            self._r_main = np.insert(self._r_main, pos, self._r_pend)
            self._h_pend = np.empty(0, dtype=np.uint64)
            self._r_pend = np.empty(0, dtype=np.int64)

    # -- mutations -----------------------------------------------------------------------
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
        encoded = [keys[i].encode("utf-8") for i in kept.tolist()]
        hashes = hash_keys(encoded)
        old = self._find(encoded, hashes)
        replaced = old[old >= 0]
        if len(replaced):
            self._alive.view[replaced] = False
        start = self.n_rows
        lengths = np.fromiter((len(k) for k in encoded), dtype=np.int64, count=len(encoded))
        self._blob.tail.extend(np.frombuffer(b"".join(encoded), dtype=np.uint8))
        self._offsets.tail.extend(int(self._offsets[len(self._offsets) - 1]) + np.cumsum(lengths))
        self._alive.extend(np.ones(len(kept), dtype=np.bool_))
        self._index_hashes(hashes, np.arange(start, start + len(kept), dtype=np.int64))
        self._n_live += len(kept) - len(replaced)
        return kept, replaced

    def remove(self, keys: Sequence[str]) -> np.ndarray:
        rows = self.rows_of(list(dict.fromkeys(keys)))
        rows = rows[rows >= 0]
        if len(rows):
            self._alive.view[rows] = False
            self._n_live -= len(rows)
        return rows

    def remap(self) -> np.ndarray:
        """Old row -> row after compaction (-1 for dead rows)."""
        alive = self.alive
        new = np.cumsum(alive, dtype=np.int64) - 1
        new[~alive] = -1
        return new

    def nbytes(self) -> int:
        runs = self._h_main.nbytes + self._r_main.nbytes + self._h_pend.nbytes + self._r_pend.nbytes
        return self._blob.nbytes + self._offsets.nbytes + self._alive.nbytes + runs

    # -- persistence -------------------------------------------------------------------
    def write(self, writer: IndexWriter, compact: bool) -> None:
        alive = self.alive
        offsets = self._offsets.full()
        blob = self._blob.full()
        h = np.concatenate([self._h_main, self._h_pend])
        r = np.concatenate([self._r_main, self._r_pend])
        if compact:
            lengths = np.diff(offsets)
            blob = blob[np.repeat(alive, lengths)]
            offsets = np.concatenate([[0], np.cumsum(lengths[alive])]).astype(np.int64)
            keep = alive[r]
            h, r = h[keep], self.remap()[r[keep]]
        order = np.argsort(h, kind="stable")
        writer.write_array("key_blob", blob)
        writer.write_array("key_offsets", offsets)
        writer.write_array("key_hashes", h[order])
        writer.write_array("key_rows", r[order])
        if not compact:
            writer.write_array("alive", alive)

    @classmethod
    def read(cls, directory: Path, manifest: dict[str, Any]) -> KeyTable:
        table = cls()
        table._blob.base = load_array(directory, manifest, "key_blob", mmap=True)
        table._offsets.base = load_array(directory, manifest, "key_offsets", mmap=True)
        table._offsets.tail = _Growable((), np.int64)
        table._h_main = load_array(directory, manifest, "key_hashes", mmap=True)
        table._r_main = load_array(directory, manifest, "key_rows", mmap=True)
        n_rows = len(table._offsets) - 1
        if "alive" in manifest["files"]:
            alive = np.array(load_array(directory, manifest, "alive", mmap=False), dtype=np.bool_)
        else:
            alive = np.ones(n_rows, dtype=np.bool_)
        if len(alive) != n_rows or n_rows != manifest["rows"] or len(table._h_main) != n_rows:
            raise IndexError_(f"index in {directory} is damaged: key and row counts disagree")
        table._alive.extend(alive)
        table._n_live = int(alive.sum())
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
            half = _take_rows(self._base, rows)
        elif rows.min() >= nb:
            half = _take_rows(self._tail.view, rows - nb)
        else:
            half = np.empty((len(rows), self.dim), dtype=np.float16)
            in_base = rows < nb
            half[in_base] = _take_rows(self._base, rows[in_base])
            half[~in_base] = _take_rows(self._tail.view, rows[~in_base] - nb)
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
        return self._base.nbytes + self._tail.nbytes + self.table.nbytes()

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
