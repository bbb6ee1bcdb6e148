"""Atomic, memory-mappable index files: generation-named files plus one manifest.

A save writes every file under a fresh generation name (``vindex-<gen>-<part>``),
fsyncs it, then replaces ``manifest.json`` with ``os.replace`` (atomic on
POSIX) and fsyncs the directory. Only then are the previous generation's files
deleted. A crash at any point leaves either the old manifest naming the old,
complete files, or the new manifest naming the new, complete files. Loading
reads nothing but what the manifest names; stray files of a crashed save are
removed by the next successful save.

The directory may hold other files (the whitening lives in ``index/`` too):
only files with our prefix are ever deleted.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import time
from pathlib import Path
from typing import Any

import numpy as np

from navee_monitor.errors import IndexError_

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
#: 2: keys as a byte blob + offsets + sorted key hashes (1 had a NUL-joined key list)
FORMAT_VERSION = 2
FILE_PREFIX = "vindex-"
#: rows converted and written per chunk when streaming large arrays to disk
WRITE_CHUNK_ROWS = 65536


def fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class IndexWriter:
    """Collects the files of one save; :meth:`commit` makes them current atomically."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise IndexError_(f"cannot create index directory {self.directory}: {exc}") from exc
        self.generation = f"{int(time.time() * 1000):x}{secrets.token_hex(4)}"
        self.files: dict[str, str] = {}

    def path_for(self, part: str, suffix: str) -> Path:
        name = f"{FILE_PREFIX}{self.generation}-{part}{suffix}"
        self.files[part] = name
        return self.directory / name

    def write_array(self, part: str, array: np.ndarray) -> None:
        path = self.path_for(part, ".npy")
        with open(path, "wb") as fh:
            np.save(fh, np.ascontiguousarray(array), allow_pickle=False)
            fh.flush()
            os.fsync(fh.fileno())

    def write_rows(self, part: str, dtype: np.dtype, shape: tuple[int, ...], chunks) -> None:
        """Stream ``chunks`` (arrays of consecutive rows) into one ``.npy`` without holding it all."""
        path = self.path_for(part, ".npy")
        out = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)
        pos = 0
        for chunk in chunks:
            out[pos : pos + len(chunk)] = chunk
            pos += len(chunk)
        if pos != shape[0]:
            raise IndexError_(f"internal error: wrote {pos} rows of {shape[0]} to {path}")
        out.flush()
        del out
        fsync_path(path)

    def write_bytes(self, part: str, data: bytes, suffix: str = ".bin") -> None:
        path = self.path_for(part, suffix)
        with open(path, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())

    def commit(self, meta: dict[str, Any]) -> None:
        """Write the manifest naming this generation's files, atomically, then drop old files."""
        manifest = {"format": FORMAT_VERSION, "generation": self.generation, "files": self.files, **meta}
        tmp = self.directory / f"{MANIFEST}.{self.generation}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(manifest, fh, indent=2, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.directory / MANIFEST)
        fsync_path(self.directory)
        self._remove_stale()

    def _remove_stale(self) -> None:
        keep = set(self.files.values())
        for path in self.directory.iterdir():
            stale_data = path.name.startswith(FILE_PREFIX) and path.name not in keep
            stale_manifest = path.name.startswith(f"{MANIFEST}.") and path.name.endswith(".tmp")
            if stale_data or stale_manifest:
                try:
                    # an index loaded earlier may still map these files: on POSIX
                    # the mapping survives the unlink, the disk space is freed later
                    path.unlink()
                except OSError as exc:  # not fatal: the next save tries again
                    log.warning("could not remove stale index file %s: %s", path, exc)


def read_manifest(directory: Path) -> dict[str, Any]:
    path = Path(directory) / MANIFEST
    try:
        with open(path, encoding="utf-8") as fh:
            manifest = json.load(fh)
    except FileNotFoundError as exc:
        raise IndexError_(
            f"no vector index in {directory} (missing {MANIFEST}); "
            "add references or run `navee-monitor index rebuild`"
        ) from exc
    except (OSError, ValueError) as exc:
        raise IndexError_(f"cannot read the index manifest {path}: {exc}") from exc
    if manifest.get("format") != FORMAT_VERSION:
        raise IndexError_(
            f"index in {directory} has format {manifest.get('format')!r}, this version reads "
            f"{FORMAT_VERSION}; run `navee-monitor index rebuild`"
        )
    return manifest


def file_of(directory: Path, manifest: dict[str, Any], part: str) -> Path:
    try:
        path = Path(directory) / manifest["files"][part]
    except KeyError as exc:
        raise IndexError_(f"index manifest in {directory} names no '{part}' file; the index is damaged") from exc
    if not path.exists():
        raise IndexError_(f"index file {path} named by the manifest is missing; run `navee-monitor index rebuild`")
    return path


def load_array(directory: Path, manifest: dict[str, Any], part: str, mmap: bool = True) -> np.ndarray:
    path = file_of(directory, manifest, part)
    try:
        try:
            return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
        except ValueError:
            if not mmap:
                raise
            # numpy cannot map an empty array: read it (it is tiny) instead
            return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise IndexError_(f"cannot read index file {path}: {exc}; run `navee-monitor index rebuild`") from exc
