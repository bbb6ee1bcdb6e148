"""A trained model's own score model: fitted like the default one, stored in the artifact, used by the matcher."""

from __future__ import annotations

import json

import numpy as np
import pytest

from navee_monitor.training.data import TrainingData
from navee_monitor.training.train import TrainOptions, train
from tests.helpers.shared import shared_path
from tests.training.conftest import SIZE

TINY = dict(image_size=SIZE, batch_size=4, max_steps=1, epochs=1, validation_fraction=0.25, embedding_dim=32,
            units=32, trainable_layers=2)


def test_fit_logistic_recovers_the_direction_of_the_evidence():
    from navee_monitor.training.calibration import coefficients, fit_logistic

    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (400, 3))
    y = (rng.uniform(0, 1, 400) < 1 / (1 + np.exp(-(-4 + 6 * x[:, 0] + 2 * x[:, 2])))).astype(float)
    c = coefficients(fit_logistic(x, y))
    assert c["w_cosine"] > 3 and c["bias"] < -2 and abs(c["w_inliers"]) < c["w_cosine"] / 2


def test_calibration_is_stored_in_the_artifact_and_used_by_the_matcher(settings, eight_items, tmp_path):
    from navee_monitor.evaluation.dataset import build_evaluation_set
    from navee_monitor.evaluation.runner import run_evaluation
    from navee_monitor.matching.scoring import DEFAULT_MODEL
    from navee_monitor.training.artifact import (
        load_embedder,
        score_model_for,
        write_score_model,
    )
    from navee_monitor.training.calibration import calibrate

    out = tmp_path / "model"
    train(settings, TrainingData(eight_items, [], "test"), TrainOptions(objective="ssl", **TINY), out)
    with_model = settings.model_copy(update={"embedding": settings.embedding.model_copy(
        update={"model_path": str(out)})})
    assert score_model_for(with_model) is None and score_model_for(settings) is None  # not calibrated yet
    sha = json.loads((out / "manifest.json").read_text())["weights_sha256"]

    report = calibrate(with_model, shared_path("data"), references=4, positives=8, distractors=4, seed=1)
    assert report["set"]["seed"] == 1 and report["positives"] >= 2 and report["candidates"] > report["positives"]
    manifest = write_score_model(out, report)
    assert manifest["weights_sha256"] == sha  # the weights (and the model version) are untouched
    fitted = score_model_for(with_model)
    assert fitted is not None and fitted.bias == report["model"]["bias"] and fitted != DEFAULT_MODEL
    assert fitted.pdq_max_distance == settings.matching.pdq_max_distance
    assert load_embedder(out, with_model).score_model == fitted
    write_score_model(out, None)  # back to the default score model
    assert score_model_for(with_model) is None and load_embedder(out, with_model).score_model is None
    manifest = write_score_model(out, report)

    # every matcher (daemon worker, check-url, match, evaluate) scores with the model's own calibration
    from navee_monitor.matching.matcher import Matcher

    assert Matcher(with_model).score_model == fitted
    assert Matcher(settings).score_model.bias == DEFAULT_MODEL.bias
    eval_set = build_evaluation_set(shared_path("data"), references=3, positives=3, distractors=1, seed=0)
    run = run_evaluation(with_model, eval_set)
    assert run.pipeline["score_model"] == {k: v for k, v in vars(fitted).items() if k != "pdq_max_distance"}

    manifest["score_model"]["w_cosine"] = "many"
    (out / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(Exception, match="bad 'score_model'"):
        score_model_for(with_model)
