"""Descriptor throughput (and a small pooling/whitening quality check) on real images.

    python benchmarks/descriptors.py --n 96
    python benchmarks/descriptors.py --n 96 --quality 150   # also compare poolings

Measures images per second for
  * decode (from bytes in memory, ``imaging.max_side``) + embedding, at batch
    sizes 1, 16, 32, for EfficientNet-Lite0 (the default, real weights) and
    ResNet50 (random weights: the ImageNet file cannot be downloaded here, and
    the weights' values do not change the speed);
  * decode + PDQ hash + ORB local features.
``--quality N`` embeds N artworks and a modified copy of each (crop, resize,
JPEG) and prints recall@1 of the copies for GeM/avg/max pooling, raw and
PCA-whitened. Prints Markdown for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from navee_monitor.descriptors import extract_local_features, pdq_hash  # noqa: E402
from navee_monitor.imaging import decode_image  # noqa: E402
from navee_monitor.settings import load_settings  # noqa: E402

SHARED = Path(os.environ.get("NAVEE_SHARED_DIR", REPO.parent / "shared"))


def image_files(n: int) -> list[Path]:
    art = sorted((SHARED / "data" / "art").glob("*.jpg"))
    photo = sorted((SHARED / "data" / "photo").glob("*.jpg"))
    if not art:
        sys.exit(f"no images under {SHARED / 'data'}")
    mixed = [p for pair in zip(art, photo) for p in pair] if photo else art
    return (mixed * (n // len(mixed) + 1))[:n]


class Timer:
    """Wall time and this process's CPU time (all threads): the machine is shared, so
    CPU seconds per image is the figure that does not depend on the neighbours' load."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu

    def cells(self, n: int) -> tuple[str, str, str]:
        cores = os.cpu_count() or 1
        return f"{n / self.wall:.1f}", f"{1000 * self.cpu / n:.0f}", f"{n * cores / self.cpu:.1f}"


def bench_embed(embedder, blobs, limits, batch: int, max_side: int) -> Timer:
    embedder.batch_size = batch
    warm = [decode_image(b, limits, max_side=max_side) for b in blobs[:batch]]
    embedder.embed(warm)  # traces the tf.function, warms the caches
    with Timer() as t:
        for i in range(0, len(blobs), batch):
            images = [decode_image(b, limits, max_side=max_side) for b in blobs[i: i + batch]]
            embedder.embed(images)
    return t


def copy_of(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = rgb.shape[:2]
    f = rng.uniform(0.05, 0.2)
    crop = rgb[int(h * f): h - int(h * f * rng.uniform(0, 1)), int(w * f * rng.uniform(0, 1)): w - int(w * f)]
    small = cv2.resize(crop, None, fx=0.6, fy=0.6, interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(small, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 50])
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def quality(settings, n: int) -> list[str]:
    from navee_monitor.descriptors import Whitening
    from navee_monitor.descriptors.embedder import build_backbone_embedder

    files = sorted((SHARED / "data" / "art").glob("*.jpg"))[: 2 * n]
    limits = settings.imaging
    refs = [decode_image(p.read_bytes(), limits, max_side=512) for p in files[:n]]
    fit_on = [decode_image(p.read_bytes(), limits, max_side=512) for p in files[n: 2 * n]]
    rng = np.random.default_rng(0)
    copies = [copy_of(im, rng) for im in refs]
    lines = ["| pooling | raw recall@1 | whitened recall@1 (fitted on other artworks) | whitened recall@1 (fitted on the references) |",
             "|---|---|---|---|"]
    for pooling in ("gem", "avg", "max"):
        emb = build_backbone_embedder(settings.embedding.model_copy(update={"pooling": pooling}), settings.path("models"))
        r, c, f = emb.embed(refs), emb.embed(copies), emb.embed(fit_on)
        raw = float(((c @ r.T).argmax(1) == np.arange(n)).mean())
        cells = [f"{raw:.3f}"]
        for basis in (f, r):
            w = Whitening.fit(basis, settings.embedding.dim, shrinkage=settings.embedding.whitening_shrinkage)
            cells.append(f"{float(((w.apply(c) @ w.apply(r).T).argmax(1) == np.arange(n)).mean()):.3f}")
        lines.append(f"| {pooling} | " + " | ".join(cells) + " |")
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=96, help="images per measurement")
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 16, 32])
    ap.add_argument("--quality", type=int, default=0, help="also compare poolings on N artworks")
    ap.add_argument("--data-dir", default=str(Path(tempfile.gettempdir()) / "navee-bench-data"),
                    help="where converted weights are cached")
    args = ap.parse_args()

    settings = load_settings(None, environ={}, overrides={"data_dir": args.data_dir}, use_default_file=False)
    limits = settings.imaging
    blobs = [p.read_bytes() for p in image_files(args.n)]
    from navee_monitor.descriptors.embedder import build_backbone_embedder

    n = len(blobs)
    rows = []
    with Timer() as t:
        for b in blobs:
            decode_image(b, limits, max_side=limits.max_side)
    rows.append(("decode only", "-", *t.cells(n)))
    with Timer() as t:
        for b in blobs:
            rgb = decode_image(b, limits, max_side=limits.max_side)
            pdq_hash(rgb)
            extract_local_features(rgb, settings.matching.max_keypoints)
    rows.append((f"decode + PDQ + ORB ({settings.matching.max_keypoints} keypoints)", "-", *t.cells(n)))

    for backbone, weights in (("efficientnet_lite0", "imagenet"), ("resnet50", None)):
        emb = build_backbone_embedder(settings.embedding.model_copy(update={"backbone": backbone}),
                                      settings.path("models"), weights=weights)
        label = f"decode + {backbone} ({'ImageNet' if weights else 'random'} weights) GeM"
        for batch in args.batch_sizes:
            rows.append((label, str(batch), *bench_embed(emb, blobs, limits, batch, limits.max_side).cells(n)))
        if backbone == "efficientnet_lite0":
            # decoding only as large as the embedding needs lets libjpeg skip work (draft mode)
            side = 2 * settings.embedding.image_size
            t = bench_embed(emb, blobs, limits, max(args.batch_sizes), side)
            rows.append((f"{label}, decode at max_side {side} (JPEG draft)", str(max(args.batch_sizes)), *t.cells(n)))
        del emb

    print(f"{len(blobs)} images from {SHARED / 'data'} (art and photo, JPEG, <= 1024 px), "
          f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}\n")
    print(f"| pipeline | batch | images/s (wall, shared machine) | CPU ms/image | images/s on {os.cpu_count()} idle cores "
          "(from CPU time) |\n|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    if args.quality:
        print(f"\nModified copies (crop 5-20 %, 60 % size, JPEG q50) of {args.quality} artworks, "
              f"searched among the originals (EfficientNet-Lite0):\n")
        print("\n".join(quality(settings, args.quality)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
