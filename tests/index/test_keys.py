"""The compact key table: byte blob + offsets + sorted 64-bit key hashes, no Python dicts."""

from __future__ import annotations

import numpy as np
import pytest

from navee_monitor.index import load_index, store
from navee_monitor.index.persist import IndexWriter, read_manifest
from navee_monitor.index.store import KeyTable
from tests.index.conftest import KINDS, MODEL, clustered


def test_keys_rows_and_tombstones():
    table = KeyTable()
    kept, replaced = table.append(["a", "béta", "c"])
    assert kept.tolist() == [0, 1, 2] and len(replaced) == 0
    assert table.rows_of(["béta", "zz", "a"]).tolist() == [1, -1, 0]
    _, replaced = table.append(["a"])  # re-adding a key tombstones its old row
    assert replaced.tolist() == [0] and table.rows_of(["a"]).tolist() == [3]
    assert table.remove(["c", "c", "nope"]).tolist() == [2]
    assert len(table) == 2 and table.n_rows == 4
    assert sorted(table.live_keys()) == ["a", "béta"]
    assert table.keys_of(np.array([1, 3])) == ["béta", "a"]
    assert "a" in table and "c" not in table


def test_hash_collisions_are_told_apart_by_the_key_bytes(monkeypatch):
    # every key hashes alike: lookups must still compare the stored key bytes
    monkeypatch.setattr(store, "hash_keys", lambda encoded: np.zeros(len(encoded), dtype=np.uint64))
    table = KeyTable()
    table.append([f"k{i}" for i in range(50)])
    assert table.rows_of(["k7", "k49", "k50"]).tolist() == [7, 49, -1]
    table.remove(["k7"])
    table.append(["k7"])
    assert table.rows_of(["k7"]).tolist() == [50]


def test_many_keys_merge_the_pending_hash_run_and_survive_a_save(tmp_path):
    table = KeyTable()
    keys = [f"ref-{i}" for i in range(3 * store.MERGE_MIN)]
    for start in range(0, len(keys), 1000):
        table.append(keys[start : start + 1000])
    table.remove(keys[:10])
    assert table.rows_of(["ref-0", "ref-12345", keys[-1]]).tolist() == [-1, 12345, len(keys) - 1]
    writer = IndexWriter(tmp_path)
    table.write(writer, compact=True)
    writer.commit({"rows": len(keys) - 10})
    loaded = KeyTable.read(tmp_path, read_manifest(tmp_path))
    assert len(loaded) == len(keys) - 10
    assert loaded.rows_of(["ref-0", "ref-10", keys[-1]]).tolist() == [-1, 0, len(keys) - 11]
    loaded.append(["new", "ref-10"])  # adds after a load go to the in-memory tail
    assert loaded.keys_of(loaded.rows_of(["new", "ref-10"])) == ["new", "ref-10"]


def test_a_key_costs_tens_of_bytes_not_a_python_object():
    table = KeyTable()
    table.append([f"ref-{i:06d}" for i in range(20000)])  # 10-byte keys
    # blob 10 + offsets 8 + hash 8 + row 8 + tombstone 1
    assert table.nbytes() / len(table) < 40


def test_an_index_saved_by_the_previous_format_asks_for_a_rebuild(tmp_path):
    import json

    from navee_monitor.errors import IndexError_
    from navee_monitor.index import index_from_vectors

    vectors = clustered(100)
    index_from_vectors(KINDS["exact"], MODEL, [str(i) for i in range(100)], vectors).save(tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["format"] = 1
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexError_, match="index rebuild"):
        load_index(tmp_path, MODEL)
