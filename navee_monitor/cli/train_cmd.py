"""``navee-monitor train``: fine-tune the embedding and write a model artifact."""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

from navee_monitor.cli.context import AppContext
from navee_monitor.errors import UsageError

log = logging.getLogger(__name__)


def register(sub) -> None:
    p = sub.add_parser(
        "train", help="fine-tune the embedding (ssl copy detection, the study's BAM classifier, triplet)",
        description=(
            "Train a model on the stored references (default; BAM imports carry labels) or on a folder "
            "of images, and write a versioned artifact directory. Use it with --model PATH on match, "
            "evaluate and index rebuild, or set embedding.model_path. Defaults: the training section "
            "of the configuration."),
    )
    p.add_argument("--objective", choices=["classifier", "triplet", "ssl"],
                   help="ssl: two strong augmentations of an image are positives (no labels needed); "
                        "classifier: the study's 20-attribute head; triplet: semi-hard triplet loss")
    p.add_argument("--folder", metavar="DIR", help="train on the images of this folder instead of the references")
    p.add_argument("--labels-csv", metavar="CSV", help="labels for --folder: a 'file' column and label columns")
    p.add_argument("--label-column", action="append", metavar="NAME",
                   help="label column(s) of --labels-csv (repeatable; a non-binary column is one-hot encoded)")
    p.add_argument("--exclude-keys", metavar="FILE",
                   help="a file of image keys (one per line) to leave out, e.g. evaluation references")
    p.add_argument("--collection", help="only the references of this collection")
    p.add_argument("--backbone", help="efficientnet_lite0 (default) or a Keras Applications name, e.g. resnet50")
    p.add_argument("--trainable-layers", type=int, metavar="N", help="backbone layers trained, from the output end")
    p.add_argument("--image-size", type=int, metavar="PX")
    p.add_argument("--epochs", type=int, metavar="N")
    p.add_argument("--batch-size", type=int, metavar="N")
    p.add_argument("--learning-rate", type=float, metavar="LR")
    p.add_argument("--max-steps", type=int, metavar="N", help="stop after N optimiser steps in all")
    p.add_argument("--cache-views", type=int, metavar="N",
                   help="ssl: cache N strong views per image through the frozen layers (much faster on CPU)")
    p.add_argument("--views", choices=["strong", "copy"],
                   help="ssl pairs: two strong views (default) or the clean image and a copy edit of it "
                        "(crop, pasted into another photo, collage, screenshot, caption; needs --cache-views)")
    p.add_argument("--l2sp", type=float, metavar="W", help="L2-SP strength: keep weights near the pretrained ones")
    p.add_argument("--koleo", type=float, metavar="W", help="ssl: KoLeo regulariser weight")
    p.add_argument("--seed", type=int)
    p.add_argument("--hparams", action="store_true",
                   help="grid over units, dropout, optimizer logged with TensorBoard HParams; keeps the best")
    p.add_argument("--out", metavar="PATH",
                   help="artifact directory (default <data_dir>/models/trained/<objective>-<backbone>-<time>)")
    p.add_argument("--json", action="store_true", help="print the artifact's manifest as JSON")
    p.set_defaults(handler=train_cmd)


def train_cmd(ctx: AppContext) -> int:
    from navee_monitor.training import data as tdata
    from navee_monitor.training.train import TrainOptions, hparams_search, train

    a = ctx.args
    settings = ctx.settings
    for name in ("max_steps", "epochs", "batch_size", "image_size", "cache_views"):
        value = getattr(a, name)
        if value is not None and value < (0 if name in ("max_steps", "cache_views") else 1):
            raise UsageError(f"--{name.replace('_', '-')} must be positive")
    for name in ("l2sp", "koleo"):
        if getattr(a, name) is not None and getattr(a, name) < 0:
            raise UsageError(f"--{name} must not be negative")
    if a.cache_views is not None and a.cache_views == 1:
        raise UsageError("--cache-views needs at least 2 views per image (a positive pair)")
    opts = TrainOptions.from_settings(
        settings, objective=a.objective, backbone=a.backbone, trainable_layers=a.trainable_layers,
        image_size=a.image_size, epochs=a.epochs, batch_size=a.batch_size, learning_rate=a.learning_rate,
        max_steps=a.max_steps, cache_views=a.cache_views, seed=a.seed, views=a.views, l2sp=a.l2sp, koleo=a.koleo)
    if a.labels_csv and not a.folder:
        raise UsageError("--labels-csv goes with --folder")
    if a.folder:
        data = tdata.from_folder(Path(a.folder).expanduser(), Path(a.labels_csv).expanduser() if a.labels_csv else None,
                                 a.label_column)
    else:
        with ctx.session():  # refuses an unmigrated database with advice
            pass
        data = tdata.from_references(settings, a.collection)
    if a.exclude_keys:
        excluded = {line.strip() for line in Path(a.exclude_keys).read_text(encoding="utf-8").splitlines() if line.strip()}
        data.items = [i for i in data.items if i.key not in excluded]
        data.source += f" minus {len(excluded)} excluded key(s)"
    if len(data.items) < 2:
        raise UsageError(f"{len(data.items)} training image(s) found in {data.source}; need at least 2 "
                         "(add references, or give --folder)")
    out = Path(a.out).expanduser() if a.out else settings.path(
        "models", "trained", f"{opts.objective}-{opts.backbone}-{time.strftime('%Y%m%d-%H%M%S')}")
    if a.hparams:
        result, trials = hparams_search(settings, data, opts, out)
        for t in trials:
            log.info("hparams: units=%s dropout=%s optimizer=%s -> loss %.4f", t["units"], t["dropout"],
                     t["optimizer"], t["score"])
    else:
        result = train(settings, data, opts, out)
    if a.json:
        json.dump(result.manifest, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        m = result.manifest
        print(f"model written to {result.out}")
        print(f"  {m['objective']} on {m['backbone']}, {m['embedding_dim']}-d, input {m['input_size']} px, "
              f"sha256 {m['weights_sha256'][:16]}")
        print(f"  {m['training_data']['train_images']} training / {m['training_data']['heldout_images']} held-out "
              f"images, {len(result.unreadable)} unreadable skipped; metrics: "
              + ", ".join(f"{k} {v:.4g}" for k, v in m["metrics"].items() if isinstance(v, (int, float))))
        print(f"  use it: navee-monitor match --model {result.out} IMAGE  (or set embedding.model_path)")
    return 0
