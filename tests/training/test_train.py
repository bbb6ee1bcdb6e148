"""A few real training steps of each objective on eight artworks, the artifact, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from navee_monitor.training.data import TrainingData
from navee_monitor.training.train import TrainOptions, hparams_search, train
from tests.helpers.shared import art_images
from tests.training.conftest import SIZE

TINY = dict(image_size=SIZE, batch_size=4, max_steps=2, epochs=1, validation_fraction=0.25, embedding_dim=32,
            units=32, trainable_layers=5)


def _images(n=3):
    from navee_monitor.evaluation.dataset import load_rgb

    return [load_rgb(p, 256) for p in art_images(n)]


@pytest.mark.parametrize("objective", ["ssl", "triplet", "classifier"])
def test_each_objective_trains_and_round_trips(settings, labelled_items, tmp_path, objective):
    from navee_monitor.descriptors import build_embedder
    from navee_monitor.training.artifact import load_embedder

    data = TrainingData(labelled_items, ["a", "b", "c"], "test")
    opts = TrainOptions(objective=objective, **TINY)
    result = train(settings, data, opts, tmp_path / "model")
    m = result.manifest
    assert m["objective"] == objective and m["input_size"] == SIZE and m["format_version"] == 1
    assert m["metrics"]["steps"] == 2 and np.isfinite(m["metrics"]["loss"]) and "val_loss" in m["metrics"]
    assert m["training_data"]["train_images"] == 6 and m["training_data"]["heldout_images"] == 2
    assert (tmp_path / "model" / "manifest.json").is_file() and (tmp_path / "model" / "model.weights.h5").is_file()
    assert list((settings.data_dir / "training" / "logs").iterdir())  # TensorBoard logs

    embedder = load_embedder(tmp_path / "model", settings)
    assert m["weights_sha256"] in embedder.model_version
    vecs = embedder.embed(_images())
    assert vecs.shape == (3, m["embedding_dim"]) and vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    # the descriptors' factory loads the same artifact by configuration
    configured = settings.model_copy(update={"embedding": settings.embedding.model_copy(
        update={"model_path": str(tmp_path / "model")})})
    again = build_embedder(configured)
    assert again.model_version == embedder.model_version
    np.testing.assert_allclose(again.embed(_images()), vecs, atol=1e-5)


def test_model_version_follows_the_weights_and_tampering_is_refused(settings, eight_items, tmp_path):
    from navee_monitor.errors import ModelError
    from navee_monitor.training.artifact import load_embedder

    data = TrainingData(eight_items, [], "test")
    first = train(settings, data, TrainOptions(objective="ssl", **TINY), tmp_path / "a").manifest
    second = train(settings, data, TrainOptions(objective="ssl", **{**TINY, "max_steps": 3}), tmp_path / "b").manifest
    assert first["weights_sha256"] != second["weights_sha256"]
    assert load_embedder(tmp_path / "a", settings).model_version != load_embedder(tmp_path / "b", settings).model_version
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    manifest["weights_sha256"] = first["weights_sha256"]
    (tmp_path / "b" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="do not match"):
        load_embedder(tmp_path / "b", settings)
    with pytest.raises(ModelError, match="not a navee-monitor model artifact"):
        load_embedder(tmp_path, settings)


def test_cached_views_train_the_same_layers(settings, eight_items, tmp_path):
    from navee_monitor.training.artifact import load_networks
    from navee_monitor.training.models import ModelSpec, build_networks

    data = TrainingData(eight_items, [], "test")
    result = train(settings, data, TrainOptions(objective="ssl", cache_views=3, **TINY), tmp_path / "m")
    assert result.manifest["metrics"]["steps"] == 2
    trained, _ = load_networks(tmp_path / "m", settings.path("models"))
    fresh = build_networks(ModelSpec(**result.manifest["spec"]), settings.path("models"), pretrained=True)
    changed = [w.path for w, f in zip(trained.backbone.weights, fresh.backbone.weights)
               if not np.allclose(np.asarray(w), np.asarray(f))]
    frozen = [w.path for layer in fresh.backbone.layers if not layer.trainable for w in layer.weights]
    assert changed, "the trainable backbone layers were not trained"
    assert not set(changed) & set(frozen)


def test_hparams_grid_logs_to_tensorboard(settings, labelled_items, tmp_path):
    data = TrainingData(labelled_items, ["a", "b", "c"], "test")
    grid = {"units": [32], "dropout": [0.1, 0.5], "optimizer": ["adam"]}
    result, trials = hparams_search(settings, data, TrainOptions(objective="classifier", **TINY),
                                    tmp_path / "best", grid=grid)
    assert len(trials) == 2 and (tmp_path / "best" / "manifest.json").is_file()
    assert result.manifest["spec"]["dropout"] == min(trials, key=lambda t: t["score"])["dropout"]
    assert not list(tmp_path.glob(".best.trial-*"))
    roots = list((settings.data_dir / "training" / "logs").glob("hparams-*"))
    assert len(roots) == 1
    events = b"".join(p.read_bytes() for p in roots[0].rglob("events.out.tfevents.*"))
    assert b"hparams" in events and b"dropout" in events and b"optimizer" in events
    assert len(list(roots[0].glob("run-*"))) == 2


def test_cli_train_ssl_with_the_real_entry_point(make_settings, db_url, tmp_path, capsys):
    from navee_monitor.cli.main import main

    folder = art_images(1)[0].parent
    keys = tmp_path / "only8.txt"
    # train on 8 images of the folder: exclude every other artwork
    all_keys = sorted(p.stem for p in folder.glob("*.jpg"))
    keys.write_text("\n".join(all_keys[8:]), encoding="utf-8")
    data_dir = str(make_settings().data_dir)
    status = main(["--data-dir", data_dir, "train", "--objective", "ssl", "--folder", str(folder),
                   "--exclude-keys", str(keys), "--max-steps", "2", "--image-size", str(SIZE),
                   "--batch-size", "4", "--trainable-layers", "3", "--out", str(tmp_path / "cli-model"), "--json"])
    assert status == 0
    manifest = json.loads(capsys.readouterr().out)
    assert manifest["objective"] == "ssl" and manifest["training_data"]["images"] == 8
    assert manifest["metrics"]["steps"] == 2
    assert main(["--data-dir", data_dir, "train", "--objective", "classifier", "--folder", str(folder),
                 "--exclude-keys", str(keys), "--max-steps", "1"]) == 2  # no labels: usage error


def test_l2sp_keeps_the_start_and_copy_views_train(settings, eight_items, tmp_path):
    import tensorflow as tf

    from navee_monitor.training.models import ModelSpec, build_networks, split_at_frozen
    from navee_monitor.training.train import apply_l2sp

    # a square projection starts as the identity; L2-SP pulls it and the trainable layers back there
    networks = build_networks(ModelSpec("ssl", "efficientnet_lite0", SIZE, 1280, trainable_layers=3),
                              settings.path("models"), pretrained=True)
    assert apply_l2sp(networks, 0.5) == len(networks.backbone.trainable_weights) + 1
    _, part = split_at_frozen(networks)
    assert sum(float(x) for x in part.losses) == 0.0
    networks.head.get_layer("projection").kernel.assign_add(tf.fill((1280, 1280), 0.01))
    assert sum(float(x) for x in part.losses) == pytest.approx(0.5 * 1280 * 1280 * 1e-4, rel=1e-3)
    assert apply_l2sp(networks, 0.0) == 0

    data = TrainingData(eight_items, [], "test")
    opts = TrainOptions(objective="ssl", cache_views=3, views="copy", l2sp=1e-3, koleo=0.1,
                        **{**TINY, "embedding_dim": 1280})
    result = train(settings, data, opts, tmp_path / "m")
    m = result.manifest
    assert m["metrics"]["steps"] == 2 and np.isfinite(m["metrics"]["loss"]) and np.isfinite(m["metrics"]["val_loss"])
    assert m["training"]["views"] == "copy" and m["training"]["l2sp"] == 1e-3 and m["training"]["koleo"] == 0.1
    with pytest.raises(Exception, match="copy views need cached views"):
        train(settings, data, TrainOptions(objective="ssl", views="copy", **TINY), tmp_path / "n")
