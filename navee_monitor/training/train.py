"""The training loop: ``model.fit`` on streamed batches, TensorBoard logs, HParams grid.

Two ways to feed the trainable layers:

* streamed (default): every step decodes, augments and runs the whole
  network (frozen layers in inference mode);
* cached views (``cache_views`` > 0, ``ssl`` only): each training image gets
  that many strong views once, the frozen part of the backbone runs once per
  view, and training runs only the trainable layers on random pairs of
  cached views. Same loss, a fraction of the CPU per step -- what makes a
  useful run fit in an hour on two cores.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import keras
import numpy as np

from navee_monitor.errors import UsageError
from navee_monitor.settings import Settings
from navee_monitor.training import losses
from navee_monitor.training.augment import copy_view, resize_square, strong_view
from navee_monitor.training.data import ImageBatches, TrainingData, split
from navee_monitor.training.models import ModelSpec, Networks, build_networks, split_at_frozen

log = logging.getLogger(__name__)

#: the grid of ``--hparams`` (the study searched units, dropout and optimizer)
HPARAM_GRID = {"units": [512, 1024], "dropout": [0.2, 0.5], "optimizer": ["adam", "sgd"]}


@dataclass(frozen=True)
class TrainOptions:
    objective: str = "ssl"
    backbone: str = "efficientnet_lite0"
    image_size: int = 224
    trainable_layers: int = 10
    embedding_dim: int = 512
    units: int = 1024
    dropout: float = 0.3
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    epochs: int = 10
    batch_size: int = 32
    temperature: float = 0.1
    triplet_margin: float = 0.2
    validation_fraction: float = 0.1
    seed: int = 0
    #: stop after this many optimiser steps in all (0 = epochs decide)
    max_steps: int = 0
    #: ssl only: strong views cached per image (0 = stream and augment every step)
    cache_views: int = 0
    #: ssl views: "strong" (two strong augmentations of an image are a pair) or "copy" (the image
    #: as the embedder sees a reference, paired with a copy edit of it: a small crop, pasted into
    #: another training photo, a collage tile, a screenshot, a caption; needs cache_views)
    views: str = "strong"
    #: L2-SP: strength of a penalty sum((w - w_start)^2) over the trained weights that start from
    #: pretrained values (backbone layers; the projection when it starts as the identity); 0 = off
    l2sp: float = 0.0
    #: ssl only: weight of SSCD's KoLeo entropy regulariser (spreads the batch's descriptors); 0 = off
    koleo: float = 0.0

    @classmethod
    def from_settings(cls, settings: Settings, **overrides) -> TrainOptions:
        base = cls(**settings.training.model_dump())
        return replace(base, **{k: v for k, v in overrides.items() if v is not None})


@dataclass
class TrainResult:
    out: Path
    manifest: dict
    history: dict
    unreadable: list[str]


class MaxSteps(keras.callbacks.Callback):
    """Stops ``fit`` after ``max_steps`` batches in all, across epochs."""

    def __init__(self, max_steps: int):
        super().__init__()
        self.max_steps = max_steps
        self.done = 0

    def on_train_batch_end(self, batch, logs=None):
        self.done += 1
        if self.max_steps and self.done >= self.max_steps:
            self.model.stop_training = True


def _optimizer(name: str, lr: float):
    if name == "sgd":
        return keras.optimizers.SGD(lr, momentum=0.9)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(lr)
    return keras.optimizers.Adam(lr)


def _loss(opts: TrainOptions):
    if opts.objective == "classifier":
        return keras.losses.BinaryCrossentropy(), [keras.metrics.BinaryAccuracy(name="accuracy")]
    if opts.objective == "triplet":
        return losses.triplet_loss(opts.triplet_margin), []
    return losses.ssl_loss(opts.temperature, opts.koleo), []


class L2SP(keras.regularizers.Regularizer):
    """``strength * sum((w - start)^2)``: keeps a fine-tuned weight near its starting (pretrained) value."""

    def __init__(self, start, strength: float):
        self.start = np.asarray(start, np.float32)
        self.strength = float(strength)

    def __call__(self, x):
        import tensorflow as tf

        return self.strength * tf.reduce_sum(tf.square(x - self.start))

    def get_config(self) -> dict:
        return {"strength": self.strength}


def apply_l2sp(networks: Networks, strength: float) -> int:
    """Attach :class:`L2SP` to every trainable weight that starts from a meaningful value: the
    backbone's (pretrained) and the projection when it starts as the identity. Returns how many."""
    if strength <= 0:
        return 0
    weights = list(networks.backbone.trainable_weights)
    try:
        proj = networks.head.get_layer("projection")
    except ValueError:
        proj = None
    if proj is not None and proj.kernel.shape[0] == proj.kernel.shape[1]:
        weights.append(proj.kernel)  # identity start (models._head)
    for w in weights:
        w.regularizer = L2SP(w.numpy(), strength)
    return len(weights)


class CachedPairs(keras.utils.PyDataset):
    """Batches of two different cached views of B images: (2B feature maps, zeros).

    ``anchor_first``: view 0 (the clean image) is always one of the pair, the other a random edit."""

    def __init__(self, features: np.ndarray, batch_size: int, seed: int, shuffle: bool = True,
                 anchor_first: bool = False):
        super().__init__()
        self.features = features  # (n_images, n_views, h, w, c) float16
        self.batch_size = min(batch_size, len(features))
        self.seed, self.shuffle, self.epoch = seed, shuffle, 0
        self.anchor_first = anchor_first

    def __len__(self) -> int:
        return max(1, len(self.features) // self.batch_size)

    def on_epoch_end(self) -> None:
        self.epoch += 1

    def __getitem__(self, index: int):
        rng = np.random.default_rng([self.seed, self.epoch if self.shuffle else 0, index])
        order = np.random.default_rng([self.seed, self.epoch if self.shuffle else 0]).permutation(len(self.features))
        idx = order[index * self.batch_size:(index + 1) * self.batch_size]
        v = self.features.shape[1]
        if self.anchor_first:
            a = np.zeros(len(idx), np.int64)
            b = rng.integers(1, v, len(idx))
        else:
            a = rng.integers(0, v, len(idx))
            b = (a + rng.integers(1, v, len(idx))) % v  # a different view of the same image
        x = np.concatenate([self.features[idx, a], self.features[idx, b]]).astype(np.float32)
        return x, np.zeros((len(x), 1), np.float32)


#: images kept (at most this side, px) as backgrounds and collage tiles of the copy views
SURROUND_IMAGES, SURROUND_SIDE = 200, 400


def surround_pool(data: ImageBatches, seed: int, n: int = SURROUND_IMAGES) -> list[np.ndarray]:
    """Up to ``n`` of the data's own images, downscaled: what copy views paste an image into."""
    import cv2

    rng = np.random.default_rng([seed, 11])
    pool = []
    for i in rng.permutation(len(data.items))[: n]:
        rgb = data._load(data.items[int(i)])
        if rgb is None:
            continue
        s = SURROUND_SIDE / max(rgb.shape[:2])
        pool.append(cv2.resize(rgb, None, fx=s, fy=s, interpolation=cv2.INTER_AREA) if s < 1 else rgb)
    return pool


def make_views(rgb: np.ndarray, rng: np.random.Generator, size: int, n_views: int, kind: str = "strong",
               others: list[np.ndarray] | None = None) -> np.ndarray:
    """``n_views`` training views of one image, (n, size, size, 3) uint8.

    ``strong``: independent strong views; ``copy``: view 0 is the image as a reference is
    embedded (squashed to size x size), the others copy edits of it."""
    if kind == "strong":
        return np.stack([strong_view(rgb, rng, size) for _ in range(n_views)])
    if kind == "copy":
        return np.stack([resize_square(rgb, size)] + [copy_view(rgb, rng, size, others) for _ in range(n_views - 1)])
    raise UsageError(f"unknown view kind {kind!r} (strong or copy)")


def cache_views(prefix: keras.Model, networks: Networks, data: ImageBatches, n_views: int, kind: str = "strong",
                others: list[np.ndarray] | None = None) -> np.ndarray:
    """Frozen-prefix outputs of ``n_views`` views of every readable image: (n, views, h, w, c) f16."""
    out = []
    size = networks.spec.image_size
    t0 = time.perf_counter()
    for k, item in enumerate(data.items):
        rgb = data._load(item)
        if rgb is None:
            continue
        rng = np.random.default_rng([data.seed, k])
        views = make_views(rgb, rng, size, n_views, kind, others).astype(np.float32)
        out.append(prefix.predict_on_batch(networks.preprocess(views)).astype(np.float16))
        if (k + 1) % 100 == 0:
            log.info("cached views of %d/%d images (%.0f s)", k + 1, len(data.items), time.perf_counter() - t0)
    if len(out) < 2:
        raise UsageError("fewer than two readable training images")
    return np.stack(out)


def heldout_copy_recall(embed, images: list[np.ndarray], size: int, seed: int) -> float:
    """recall@1 of strong views of held-out images searched among the clean images (``embed``: list -> (n, d))."""
    rng = np.random.default_rng([seed, 7])
    clean = embed([resize_square(im, size) for im in images])
    views = embed([strong_view(im, rng, size) for im in images])
    return float(np.mean(np.argmax(views @ clean.T, axis=1) == np.arange(len(images))))


def train(settings: Settings, data: TrainingData, opts: TrainOptions, out: Path,
          log_dir: Path | None = None, extra_callbacks: list | None = None) -> TrainResult:
    """Train one model and write its artifact to ``out``."""
    from navee_monitor.training.artifact import save_artifact

    keras.utils.set_random_seed(opts.seed)
    if opts.objective == "classifier" and not data.label_names:
        raise UsageError("the classifier objective needs labels: BAM references (references import-bam) "
                         "or a folder with --labels-csv")
    train_items, val_items = split(data.items, opts.validation_fraction, opts.seed)
    if opts.objective == "classifier":
        train_items = [i for i in train_items if i.labels is not None]
        val_items = [i for i in val_items if i.labels is not None]
    spec = ModelSpec(opts.objective, opts.backbone, opts.image_size, opts.embedding_dim,
                     len(data.label_names) if opts.objective == "classifier" else 0,
                     opts.units, opts.dropout, opts.trainable_layers)
    networks = build_networks(spec, settings.path("models"), pretrained=True)
    loss, metrics = _loss(opts)
    common = dict(objective=opts.objective, batch_size=opts.batch_size, image_size=opts.image_size,
                  limits=settings.imaging, preprocess=networks.preprocess)
    train_ds = ImageBatches(train_items, seed=opts.seed, **common)
    val_ds = (ImageBatches(val_items, seed=opts.seed + 1, augment=False, shuffle=False, **common)
              if len(val_items) >= 2 else None)
    model = networks.train_model
    regularised = apply_l2sp(networks, opts.l2sp)
    if regularised:
        log.info("L2-SP (strength %g) on %d weight tensors", opts.l2sp, regularised)
    if opts.views not in ("strong", "copy"):
        raise UsageError(f"unknown view kind {opts.views!r} (strong or copy)")
    if opts.views == "copy" and not opts.cache_views:
        raise UsageError("copy views need cached views (--cache-views N, N >= 2)")
    if opts.cache_views:
        if opts.objective != "ssl":
            raise UsageError("--cache-views works with the ssl objective only")
        prefix, model = split_at_frozen(networks)
        copy = opts.views == "copy"
        others = surround_pool(train_ds, opts.seed) if copy else None
        train_ds = CachedPairs(cache_views(prefix, networks, train_ds, opts.cache_views, opts.views, others),
                               opts.batch_size, opts.seed, anchor_first=copy)
        if val_ds is not None:
            val_ds = CachedPairs(cache_views(prefix, networks, val_ds, 2, opts.views, others),
                                 opts.batch_size, opts.seed + 1, shuffle=False, anchor_first=copy)
    model.compile(optimizer=_optimizer(opts.optimizer, opts.learning_rate), loss=loss, metrics=metrics)
    callbacks = [MaxSteps(opts.max_steps), *(extra_callbacks or [])]
    log_dir = log_dir or settings.path("training", "logs", f"{opts.objective}-{time.strftime('%Y%m%d-%H%M%S')}")
    callbacks.append(keras.callbacks.TensorBoard(str(log_dir), write_graph=False, profile_batch=0))
    steps = len(train_ds) if not opts.max_steps else min(len(train_ds), opts.max_steps)
    # --max-steps decides alone when given (MaxSteps stops the last epoch on time)
    epochs = opts.epochs if not opts.max_steps else math.ceil(opts.max_steps / steps)
    log.info("training %s on %s: %d train / %d held-out images, %d epoch(s) x %d step(s)", opts.objective,
             spec.backbone, len(train_items), len(val_items), epochs, steps)
    t0 = time.perf_counter()
    fit = model.fit(train_ds, validation_data=val_ds, epochs=epochs, steps_per_epoch=steps,
                    callbacks=callbacks, verbose=0)
    history = {k: [float(v) for v in vals] for k, vals in fit.history.items()}
    metrics_out = {k: vals[-1] for k, vals in history.items()}
    metrics_out["train_seconds"] = round(time.perf_counter() - t0, 1)
    metrics_out["steps"] = callbacks[0].done
    unreadable = sorted(getattr(train_ds, "unreadable", set()) | getattr(val_ds, "unreadable", set()))
    summary = {**data.summary(), "train_images": len(train_items), "heldout_images": len(val_items),
               "unreadable": len(unreadable), "heldout_keys_sample": [i.key for i in val_items[:20]]}
    manifest = save_artifact(out, networks, data_summary=summary, metrics=metrics_out,
                             training={**asdict(opts), "log_dir": str(log_dir)})
    return TrainResult(Path(out), manifest, history, unreadable)


def hparams_search(settings: Settings, data: TrainingData, opts: TrainOptions, out: Path,
                   grid: dict | None = None) -> tuple[TrainResult, list[dict]]:
    """Train once per grid point, log each with TensorBoard HParams; keep the best artifact in ``out``.

    Best = lowest final validation loss (training loss without a held-out set).
    """
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp

    grid = grid or HPARAM_GRID
    root = settings.path("training", "logs", f"hparams-{opts.objective}-{time.strftime('%Y%m%d-%H%M%S')}")
    domains = {"units": hp.HParam("units", hp.Discrete(grid["units"])),
               "dropout": hp.HParam("dropout", hp.Discrete(grid["dropout"])),
               "optimizer": hp.HParam("optimizer", hp.Discrete(grid["optimizer"]))}
    with tf.summary.create_file_writer(str(root)).as_default():
        hp.hparams_config(hparams=list(domains.values()),
                          metrics=[hp.Metric("epoch_loss", group="validation", display_name="val loss"),
                                   hp.Metric("epoch_loss", group="train", display_name="train loss")])
    trials, best = [], None
    for n, (units, dropout, optimizer) in enumerate(itertools.product(grid["units"], grid["dropout"], grid["optimizer"])):
        values = {"units": units, "dropout": dropout, "optimizer": optimizer}
        run_dir = root / f"run-{n:02d}"
        trial_out = out.parent / f".{out.name}.trial-{n:02d}"
        result = train(settings, data, replace(opts, **values), trial_out, log_dir=run_dir,
                       extra_callbacks=[hp.KerasCallback(str(run_dir), {domains[k]: v for k, v in values.items()})])
        score = result.history.get("val_loss", result.history.get("loss"))[-1]
        trials.append({**values, "score": score, "run": str(run_dir)})
        log.info("hparams trial %d %s: loss %.4f", n, values, score)
        if best is None or score < best[0]:
            best = (score, trial_out, result)
    import shutil

    score, trial_dir, result = best
    if out.exists():
        shutil.rmtree(out)
    trial_dir.rename(out)
    for t in out.parent.glob(f".{out.name}.trial-*"):
        shutil.rmtree(t, ignore_errors=True)
    result.out = out
    return result, trials
