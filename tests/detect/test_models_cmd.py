"""`navee-monitor models fetch|list` against a real HTTP server on 127.0.0.1 serving the real files."""

from __future__ import annotations

import json
import logging

import pytest

from navee_monitor.cli.main import main
from navee_monitor.detect import CompositeProposer, build_proposer
from navee_monitor.detect.model_files import DEFAULT_MODEL_FILES, sha256_file
from navee_monitor.settings import load_settings
from tests.helpers.http import Response
from tests.helpers.shared import yolo_dir

NAMES = [name for name, _ in DEFAULT_MODEL_FILES.values()]


@pytest.fixture
def model_server(http_server):
    for name in NAMES:
        http_server.routes[f"/zoo/{name}"] = Response((yolo_dir() / name).read_bytes(),
                                                      content_type="application/octet-stream")
    return http_server


@pytest.fixture
def cli(tmp_path, data_dir, model_server):
    config = tmp_path / "navee.yaml"
    config.write_text(f"detector:\n  download_base_url: {model_server.url('/zoo/')}\n")

    def run(*args: str) -> int:
        return main(["--config", str(config), "--data-dir", str(data_dir), *args])

    run.config = config
    return run


def test_checksums_match_the_shared_copies():
    for name, digest in DEFAULT_MODEL_FILES.values():
        assert sha256_file(yolo_dir() / name) == digest


def test_fetch_downloads_verifies_and_enables_crops(cli, data_dir, model_server, capsys, caplog):
    assert cli("models", "fetch") == 0
    out = capsys.readouterr().out
    for name, digest in DEFAULT_MODEL_FILES.values():
        path = data_dir / "models" / name
        assert path.is_file() and sha256_file(path) == digest
        assert f"downloaded {path}" in out
    assert not list((data_dir / "models").glob(".*.part"))
    # the default settings now find the files: crops are on, without a warning
    caplog.set_level(logging.INFO)
    settings = load_settings(cli.config, environ={}, overrides={"data_dir": str(data_dir)})
    assert isinstance(build_proposer(settings), CompositeProposer)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    # a second fetch finds intact files and downloads nothing
    requests_before = len(model_server.requests)
    assert cli("models", "fetch") == 0
    assert "present" in capsys.readouterr().out
    assert len(model_server.requests) == requests_before


def test_checksum_mismatch_is_refused(cli, data_dir, model_server, capsys):
    cfg_name = DEFAULT_MODEL_FILES["cfg"][0]
    tampered = (yolo_dir() / cfg_name).read_bytes().replace(b"filters=255", b"filters=254", 1)
    model_server.routes[f"/zoo/{cfg_name}"] = Response(tampered, content_type="text/plain")
    assert cli("models", "fetch") == 1
    err = capsys.readouterr().err
    assert "checksum mismatch" in err and cfg_name in err and "Traceback" not in err
    assert not (data_dir / "models" / cfg_name).exists()
    assert not list((data_dir / "models").glob(".*"))


def test_damaged_local_file_is_replaced(cli, data_dir, capsys):
    models = data_dir / "models"
    models.mkdir()
    names_file = models / DEFAULT_MODEL_FILES["names"][0]
    names_file.write_text("not the coco names\n")
    assert cli("models", "fetch") == 0
    assert sha256_file(names_file) == DEFAULT_MODEL_FILES["names"][1]


def test_http_error_and_unreachable_host(cli, model_server, tmp_path, data_dir, capsys):
    del model_server.routes[f"/zoo/{DEFAULT_MODEL_FILES['weights'][0]}"]
    assert cli("models", "fetch") == 1
    assert "HTTP 404" in capsys.readouterr().err
    assert not (data_dir / "models" / DEFAULT_MODEL_FILES["weights"][0]).exists()
    dead = tmp_path / "dead.yaml"
    dead.write_text("detector:\n  download_base_url: http://127.0.0.1:9/zoo/\n  download_timeout_s: 5\n")
    assert main(["--config", str(dead), "--data-dir", str(data_dir), "models", "fetch"]) == 1
    err = capsys.readouterr().err
    assert "cannot download" in err and "point detector.cfg/weights/names" in err


def test_fetch_dest(cli, tmp_path, capsys):
    dest = tmp_path / "elsewhere"
    assert cli("models", "fetch", "--dest", str(dest)) == 0
    assert sorted(p.name for p in dest.iterdir()) == sorted(NAMES)
    assert "detector.cfg/weights/names" in capsys.readouterr().out


def test_list_before_and_after_fetch(cli, data_dir, capsys):
    assert cli("models", "list") == 0
    out = capsys.readouterr().out
    assert out.count("MISSING") == 3 and "models fetch" in out
    assert cli("models", "fetch") == 0
    (data_dir / "models" / "embedder.keras").write_bytes(b"x" * 10)  # another stage's cached weights
    capsys.readouterr()
    assert cli("models", "list", "--json") == 0
    listing = json.loads(capsys.readouterr().out)
    assert [r["present"] for r in listing["detector"]] == [True, True, True]
    assert [r["checksum"] for r in listing["detector"]] == ["ok", "ok", "ok"]
    assert listing["other_files"] == [{"path": str(data_dir / "models" / "embedder.keras"), "bytes": 10}]
    assert cli("models", "list") == 0
    out = capsys.readouterr().out
    assert "MISSING" not in out and "checksum ok" in out and "embedder.keras" in out
