"""The `references` and `index` commands through the real entry point."""

from __future__ import annotations

import json
import shutil

import pytest

from navee_monitor.cli.main import main
from navee_monitor.references.ingest import import_bam
from tests.helpers.http import Response
from tests.helpers.shared import art_images
from tests.references.conftest import create_bam

pytestmark = pytest.mark.slow


def cli(capsys, data_dir, *args):
    code = main(["--data-dir", str(data_dir), *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def _no_repo_config(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # never read the repository's config.yaml


def test_add_list_stats_remove(capsys, settings, db_url, tmp_path):
    folder = tmp_path / "refs"
    folder.mkdir()
    for p in art_images(3):
        shutil.copy(p, folder / p.name)
    (folder / "broken.jpg").write_bytes(b"<html>not an image</html>")
    code, out, err = cli(capsys, settings.data_dir, "references", "add", str(folder), "--collection", "mine")
    assert code == 0, err
    assert "added 3" in out and "failed 1" in out and "not_an_image: 1" in out

    code, out, _ = cli(capsys, settings.data_dir, "references", "list", "--json")
    rows = {r["key"]: r for r in json.loads(out)}
    assert sorted(rows) == sorted([p.stem for p in art_images(3)] + ["broken"])
    assert rows["broken"]["status"] == "not_an_image" and "HTML" in rows["broken"]["error"]
    first = rows[art_images(1)[0].stem]
    assert first["status"] == "ok" and first["collection"] == "mine" and first["error"] is None
    assert first["labels"] == {}

    code, out, _ = cli(capsys, settings.data_dir, "references", "stats", "--json")
    stats = json.loads(out)
    assert stats["by_status"] == {"error": 1, "ok": 3} and stats["failures_by_reason"] == {"not_an_image": 1}
    assert stats["index"]["vectors"] == 3

    # a key clash is a usage error naming both files
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(art_images(5)[4], other / f"{art_images(1)[0].stem}.png")
    code, _, err = cli(capsys, settings.data_dir, "references", "add", str(other))
    assert code == 2 and str(other) in err and str(folder) in err

    stored = settings.data_dir / first["image_path"]
    assert stored.is_file()
    code, out, _ = cli(capsys, settings.data_dir, "references", "remove", first["key"])
    assert code == 0 and "removed 1" in out and "1 from the index" in out
    assert not stored.exists()
    code, _, err = cli(capsys, settings.data_dir, "references", "remove", "no-such-key")
    assert code == 2 and "no-such-key" in err

    code, out, _ = cli(capsys, settings.data_dir, "index", "stats", "--json")
    assert json.loads(out)["vectors"] == 2


def test_bam_list_json_has_labels_and_failure_status(capsys, make_settings, db_url, tmp_path, http_server,
                                                     art_bytes, catalog_factory):
    settings = make_settings(references={"retries": 0})
    http_server.routes["/ok.jpg"] = Response(art_bytes[0], content_type="image/jpeg")
    bam = create_bam(tmp_path / "bam.sqlite", [
        {"mid": 7, "src": http_server.url("/ok.jpg"), "labels": {"media_watercolor": "positive"}},
        {"mid": 8, "src": http_server.url("/dead.jpg")},
    ])
    import_bam(settings, bam, catalog=catalog_factory(settings))
    code, out, _ = cli(capsys, settings.data_dir, "references", "list", "--json")
    rows = {r["key"]: r for r in json.loads(out)}
    assert rows["7"]["status"] == "ok" and rows["7"]["labels"]["media_watercolor"] == "positive"
    assert len(rows["7"]["labels"]) == 20 and rows["7"]["collection"] == "bam"
    assert rows["8"]["status"] == "http_404" and "404" in rows["8"]["error"]
    code, out, _ = cli(capsys, settings.data_dir, "references", "stats")
    assert "http_404: 1" in out
    # bad filters are usage errors
    code, _, err = cli(capsys, settings.data_dir, "references", "import-bam", str(bam), "--where", "media_oil=positive")
    assert code == 2 and "unknown BAM attribute" in err
