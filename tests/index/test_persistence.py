"""Saving and loading every implementation: round trip, mmap, adds after load, crashes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from navee_monitor.errors import IndexError_
from navee_monitor.index import load_index, persist
from tests.index.conftest import KINDS, MODEL, near_copies

REPO = Path(__file__).resolve().parents[2]


def top_keys(index, queries, k=5):
    return [[key for key, _ in r] for r in index.query_batch(queries, k)]


def test_round_trip_gives_the_same_answers(filled, data, tmp_path, kind):
    _, vectors = data
    queries = near_copies(vectors[::100])
    before = top_keys(filled, queries)
    filled.save(tmp_path / "index")
    manifest = json.loads((tmp_path / "index" / "manifest.json").read_text())
    assert manifest["kind"] == KINDS[kind].kind and manifest["model_version"] == MODEL
    assert manifest["dim"] == 32 and manifest["count"] == 3000
    assert all((tmp_path / "index" / name).is_file() for name in manifest["files"].values())
    loaded = load_index(tmp_path / "index", MODEL)
    assert type(loaded) is type(filled) and len(loaded) == 3000
    assert top_keys(loaded, queries) == before


def test_loaded_arrays_are_memory_mapped(filled, tmp_path, kind):
    filled.save(tmp_path)
    loaded = load_index(tmp_path, MODEL)
    if kind == "faiss":
        # the graph is FAISS's own file format (read with IO_FLAG_MMAP); our key table is numpy
        table = loaded.table
        assert isinstance(table._blob.base, np.memmap) and isinstance(table._h_main, np.memmap)
        return
    assert isinstance(loaded.store._base, np.memmap)
    table = loaded.store.table
    assert isinstance(table._blob.base, np.memmap) and isinstance(table._h_main, np.memmap)
    if kind != "exact":
        assert isinstance(loaded.codes.base, np.memmap)
    if kind.endswith("-buckets"):
        assert isinstance(loaded.tables.codes, np.memmap) and isinstance(loaded.tables.rows, np.memmap)


def test_add_and_remove_after_load_then_save_again(filled, data, tmp_path):
    keys, vectors = data
    filled.save(tmp_path)
    loaded = load_index(tmp_path, MODEL)
    new = near_copies(vectors[:20], noise=1.0, seed=9)
    loaded.add([f"new-{i}" for i in range(20)], new)
    assert loaded.remove(keys[:10]) == 10
    assert len(loaded) == 3010
    assert loaded.query(new[3], 1)[0][0] == "new-3"
    loaded.save(tmp_path)
    again = load_index(tmp_path, MODEL)
    assert len(again) == 3010
    assert again.query(new[3], 1)[0][0] == "new-3"
    assert not {k for r in again.query_batch(vectors[:10], 5) for k, _ in r} & set(keys[:10])
    # only the current generation's files remain
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    on_disk = {p.name for p in tmp_path.iterdir() if p.name.startswith(persist.FILE_PREFIX)}
    assert on_disk == set(manifest["files"].values())


def test_other_model_version_is_refused_with_advice(filled, tmp_path):
    filled.save(tmp_path)
    with pytest.raises(IndexError_, match=r"test-model-v1.*other-model.*index rebuild"):
        load_index(tmp_path, "other-model")


def test_missing_index_is_a_clear_error(tmp_path):
    with pytest.raises(IndexError_, match="no vector index"):
        load_index(tmp_path, MODEL)


def test_files_of_others_in_the_directory_survive_saves(filled, tmp_path):
    (tmp_path / "whitening.npz").write_bytes(b"not ours")
    filled.save(tmp_path)
    filled.remove(["ref-1"])
    filled.save(tmp_path)
    assert (tmp_path / "whitening.npz").read_bytes() == b"not ours"


def test_failure_mid_save_leaves_the_previous_index(filled, data, tmp_path, monkeypatch):
    keys, vectors = data
    filled.save(tmp_path)
    filled.remove(keys[:100])

    def crash(*_args, **_kwargs):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(persist.os, "replace", crash)
    with pytest.raises(OSError, match="simulated"):
        filled.save(tmp_path)
    monkeypatch.undo()
    loaded = load_index(tmp_path, MODEL)
    assert len(loaded) == 3000 and loaded.query(vectors[0], 1)[0][0] == "ref-0"
    filled.save(tmp_path)  # the next save succeeds and cleans the partial files
    assert len(load_index(tmp_path, MODEL)) == 2900
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_process_killed_mid_save_leaves_the_previous_index(filled, tmp_path, kind):
    """A real crash: the child process dies (os._exit) after writing files, before the manifest."""
    filled.save(tmp_path)
    script = textwrap.dedent(
        f"""
        import os, numpy as np
        from navee_monitor.index import load_index, persist
        index = load_index({str(tmp_path)!r}, {MODEL!r})
        index.add(["crash-{{}}".format(i) for i in range(50)], np.random.default_rng(0).standard_normal((50, 32)))
        index.remove(["ref-0"])
        persist.os.replace = lambda *a, **k: os._exit(17)
        index.save({str(tmp_path)!r})
        """
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 17, done.stderr
    loaded = load_index(tmp_path, MODEL)
    assert len(loaded) == 3000 and "crash-1" not in loaded


def test_unchanged_index_is_not_rewritten(filled, tmp_path):
    filled.save(tmp_path)
    loaded = load_index(tmp_path, MODEL)
    before = sorted(p.name for p in tmp_path.iterdir())
    loaded.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == before
