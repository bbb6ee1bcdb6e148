"""Folder, file and URL-list sources: keys, recursion, CSV columns, clashes."""

from __future__ import annotations

import shutil

import pytest

from navee_monitor.errors import UsageError
from navee_monitor.references.sources import expand_inputs, url_key
from tests.helpers.shared import art_images


@pytest.fixture
def folder(tmp_path):
    src = art_images(3)
    root = tmp_path / "refs"
    (root / "sub").mkdir(parents=True)
    (root / ".hidden").mkdir()
    shutil.copy(src[0], root / "alpha.jpg")
    shutil.copy(src[1], root / "sub" / "beta.JPEG")
    shutil.copy(src[2], root / ".hidden" / "gamma.jpg")
    (root / "notes.md").write_text("not an image")
    return root


def test_folder_is_recursive_keys_are_stems_hidden_skipped(folder):
    items = expand_inputs([str(folder)])
    assert [i.key for i in items] == ["alpha", "beta"]
    assert all(i.source == "folder" and i.uri.startswith(str(folder.resolve())) for i in items)


def test_key_from_path_is_relative_path(folder):
    items = expand_inputs([str(folder)], key_from="path")
    assert [i.key for i in items] == ["alpha.jpg", "sub/beta.JPEG"]


def test_same_stem_in_two_files_is_a_usage_error_naming_both(folder):
    shutil.copy(folder / "alpha.jpg", folder / "sub" / "alpha.png")
    with pytest.raises(UsageError) as err:
        expand_inputs([str(folder)])
    assert "alpha.jpg" in str(err.value) and "alpha.png" in str(err.value)
    # --key-from path resolves it
    assert len(expand_inputs([str(folder)], key_from="path")) == 3


def test_same_file_given_twice_is_not_a_clash(folder):
    items = expand_inputs([str(folder), str(folder / "alpha.jpg")])
    assert [i.key for i in items] == ["alpha", "beta"]


def test_url_list_txt_and_csv(tmp_path):
    txt = tmp_path / "urls.txt"
    txt.write_text("# artworks\nhttps://cdn.example.com/a/one.jpg\n\nhttp://cdn.example.com/b/two%20x.png?w=600\n")
    items = expand_inputs([str(txt)])
    assert [(i.key, i.source) for i in items] == [("one", "url"), ("two x", "url")]
    csv = tmp_path / "list.csv"
    csv.write_text("key,src,artist\nk1,https://x.example/1.jpg,Ann\n,https://x.example/2.jpg,Bob\n")
    items = expand_inputs([str(csv)])
    assert [(i.key, i.uri, i.labels) for i in items] == [
        ("k1", "https://x.example/1.jpg", {"artist": "Ann"}),
        ("2", "https://x.example/2.jpg", {"artist": "Bob"}),
    ]
    bare = tmp_path / "bare.csv"
    bare.write_text("https://x.example/3.jpg,whatever\n")
    assert [i.key for i in expand_inputs([str(bare)])] == ["3"]


def test_url_list_with_a_non_url_names_the_line(tmp_path):
    txt = tmp_path / "urls.txt"
    txt.write_text("https://x.example/1.jpg\nftp://x.example/2.jpg\n")
    with pytest.raises(UsageError, match=r"urls.txt:2"):
        expand_inputs([str(txt)])


def test_url_keys():
    assert url_key("https://h.example/p/q/img.jpg", "stem") == "img"
    assert url_key("https://h.example/p/q/img.jpg", "path") == "h.example/p/q/img.jpg"
    assert url_key("https://h.example/", "stem") == "h.example"


def test_missing_input_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="no such file"):
        expand_inputs([str(tmp_path / "nope")])
    with pytest.raises(UsageError, match="--key-from"):
        expand_inputs([str(tmp_path)], key_from="name")
