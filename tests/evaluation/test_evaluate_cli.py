"""`navee-monitor evaluate --size small` end to end: real images, real models, real pipeline."""

from __future__ import annotations

import json
import os

import pytest

from navee_monitor.cli.main import main
from navee_monitor.detect.model_files import DEFAULT_MODEL_FILES
from tests.helpers.shared import shared_path, yolo_dir

METRIC_KEYS = {"uAP", "R@P90", "recall@1", "per_group", "per_transform", "alert_precision", "alert_recall",
               "threshold_at_p90"}


def _unit(value) -> bool:
    return value is None or 0.0 <= value <= 1.0


@pytest.mark.slow
def test_evaluate_small_end_to_end(tmp_path, data_dir, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no config.yaml: the defaults, like a fresh install
    models = data_dir / "models"
    models.mkdir()
    for name, _sha in DEFAULT_MODEL_FILES.values():
        os.symlink(yolo_dir() / name, models / name)
    details = tmp_path / "details"

    status = main(["--data-dir", str(data_dir), "evaluate", str(shared_path("data")), "--size", "small",
                   "--json", "--details", str(details)])

    out = capsys.readouterr().out
    assert status == 0
    result = json.loads(out)
    assert METRIC_KEYS | {"images_per_s", "errors", "baselines"} <= set(result)
    assert set(result["baselines"]) == {"pdq", "phash"}
    for system in (result, result["baselines"]["pdq"], result["baselines"]["phash"]):
        assert METRIC_KEYS | {"images_per_s", "errors"} <= set(system)
        for key in ("uAP", "R@P90", "recall@1", "alert_precision", "alert_recall", "threshold_at_p90"):
            assert _unit(system[key]), (key, system[key])
        assert set(system["per_group"]) == {"mild", "medium", "hard"}
        assert sum(t["queries"] for t in system["per_transform"].values()) == 16
        assert system["images_per_s"] > 0
    assert result["set"] == {"seed": 0, "references": 8, "positive_queries": 16, "distractor_queries": 8,
                             "transforms": len(result["per_transform"])}
    assert result["errors"] == 0, result["error_list"]
    assert result["pipeline"]["references_indexed"] == 8 and result["pipeline"]["detector"] is True
    # a CNN matcher finds recompressed, rescaled, recoloured copies: far from chance (1/8)
    assert result["per_group"]["mild"]["recall@1"] >= 0.5
    assert result["label_precision"]["k"] == 5
    assert sorted(p.name for p in details.iterdir()) == ["details.json", "summary.md", "worst_misses.html"]
    queries = json.loads((details / "details.json").read_text())["queries"]
    assert len(queries) == 24 and {q["group"] for q in queries} == {"mild", "medium", "hard", "distractor"}
    assert "| uAP |" in (details / "summary.md").read_text()


def test_evaluate_refuses_a_missing_data_folder(tmp_path, data_dir, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    status = main(["--data-dir", str(data_dir), "evaluate", str(tmp_path / "nowhere"), "--size", "small"])
    assert status == 2
    assert "does not exist" in capsys.readouterr().err
    status = main(["--data-dir", str(data_dir), "evaluate", str(tmp_path), "--references", "0"])
    assert status == 2
