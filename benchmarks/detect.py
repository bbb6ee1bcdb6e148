"""Region proposals for partial copies: speed, proposal recall and effect on matching.

    python benchmarks/detect.py                  # timing + proposal recall (a few minutes)
    python benchmarks/detect.py --match          # + matching with the real embedder

1. Per-image time of YOLO (Yolo-Fastest-1.1-XL, 320 px, OpenCV DNN) and of the
   class-agnostic contour proposer, on real photos (``../shared/data``).
   OpenCV runs single-threaded here, and CPU time is reported beside wall
   time: the machine is shared, CPU time is what the code costs.
2. Proposal recall on synthetic mock-ups (a real artwork pasted into a real
   photo: framed, printed with a white margin or a dark frame in perspective,
   bare): share of mock-ups where some proposal has IoU >= 0.5 / 0.7 with the
   artwork, for YOLO, regions, fixed crops and their combinations; and the
   number of crops proposed on plain photos (each costs an embedding).
3. ``--match``: the same mock-ups searched among reference artworks with the
   real EfficientNet-Lite0 embedding, whole image plus crops, crop scores
   re-weighted or not (``navee_monitor.detect.weighting``): micro-AP over all
   (query, reference) scores and recall@1, with plain photos as distractor
   queries. Prints Markdown for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import csv
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

from navee_monitor.detect import (  # noqa: E402
    CompositeProposer,
    ContourRegionProposer,
    CropWeighting,
    FixedRegionsProposer,
    YoloDetector,
    crop_regions,
)
from navee_monitor.detect.boxes import iou  # noqa: E402
from navee_monitor.detect.mockup import paste_framed, paste_perspective  # noqa: E402

SHARED = Path(os.environ.get("NAVEE_SHARED_DIR", REPO.parent / "shared"))
YOLO = SHARED / "models" / "yolo-fastest-1.1"
KINDS = ["framed", "print_white", "print_dark", "bare"]


def load(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def manifest(kind: str) -> list[Path]:
    with open(SHARED / "data" / "MANIFEST.csv", newline="") as fh:
        return [SHARED / "data" / r["file"] for r in csv.DictReader(fh) if r["kind"] == kind]


def make_mockup(kind: str, art: np.ndarray, photo: np.ndarray, rng: np.random.Generator):
    """One mock-up of ``kind``; returns (image, artwork bbox)."""
    h, w = photo.shape[:2]
    if kind == "framed":
        return paste_framed(photo, art, width_fraction=rng.uniform(0.2, 0.5),
                            centre=(rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.7)),
                            frame_fraction=rng.uniform(0.02, 0.08), mat_fraction=rng.choice([0.0, 0.0, 0.06]),
                            frame_rgb=tuple(int(v) for v in rng.integers(0, 256, 3)))
    if kind == "bare":  # a picture pasted as is: collage, screenshot, product shot
        return paste_framed(photo, art, width_fraction=rng.uniform(0.25, 0.5),
                            centre=(rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.7)), frame_fraction=0.0)
    cx, cy = w * rng.uniform(0.4, 0.6), h * rng.uniform(0.4, 0.6)
    s = min(w, h) * rng.uniform(0.2, 0.4)
    skew = rng.uniform(-0.15, 0.15)
    quad = np.array([[cx - s, cy - s * (0.8 + skew)], [cx + s * 0.9, cy - s * (0.8 - skew)],
                     [cx + s * 0.9, cy + s * (0.8 - skew)], [cx - s, cy + s * (0.8 + skew)]])
    quad += rng.normal(0, s * 0.03, quad.shape)
    border_rgb = (250, 250, 250) if kind == "print_white" else (50, 35, 20)
    return paste_perspective(photo, art, quad, border_px=max(6, int(max(art.shape[:2]) * rng.uniform(0.03, 0.06))),
                             border_rgb=border_rgb)


def build_cases(n_per_kind: int, seed: int):
    rng = np.random.default_rng(seed)
    arts, photos = manifest("art"), manifest("photo")
    art_idx = rng.choice(len(arts), n_per_kind * len(KINDS), replace=False)
    cases = []
    for i, ai in enumerate(art_idx):
        kind = KINDS[i % len(KINDS)]
        photo = load(photos[rng.integers(len(photos))])
        image, gt = make_mockup(kind, load(arts[ai]), photo, rng)
        cases.append({"kind": kind, "image": image, "gt": gt, "ref": arts[ai].stem})
    plain_idx = rng.choice(len(photos), n_per_kind * 2, replace=False)
    return cases, [load(photos[i]) for i in plain_idx], [a.stem for a in arts], set(art_idx.tolist())


def timed(fn, images):
    """Median wall and CPU milliseconds per image."""
    walls, cpus = [], []
    for im in images:
        w0, c0 = time.perf_counter(), time.process_time()
        fn(im)
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return 1000 * float(np.median(walls)), 1000 * float(np.median(cpus)), 1000 * float(np.percentile(cpus, 95))


def section_timing(proposers, photos, mockups):
    rows = []
    for name, p in proposers.items():
        p.propose(photos[0])  # warm-up (network allocation)
        for label, images in (("photos", photos), ("mock-ups", mockups)):
            wall, cpu, cpu95 = timed(p.propose, images)
            rows.append(f"| {name} | {label} ({len(images)}) | {wall:.1f} | {cpu:.1f} | {cpu95:.1f} |")
    return ["| proposer | images | wall ms/image (median, shared machine) | CPU ms/image (median) | CPU ms p95 |",
            "|---|---|---|---|---|", *rows]


def section_recall(proposers, cases, plain):
    head = "| proposer | " + " | ".join(f"{k} IoU>=.5 / .7" for k in KINDS) + " | crops per plain photo |"
    rows = [head, "|" + "---|" * (len(KINDS) + 2)]
    for name, p in proposers.items():
        cells = []
        for kind in KINDS:
            best = [max((iou(r.bbox, c["gt"]) for r in p.propose(c["image"])), default=0.0)
                    for c in cases if c["kind"] == kind]
            cells.append(f"{np.mean(np.array(best) >= 0.5):.2f} / {np.mean(np.array(best) >= 0.7):.2f}")
        crops = np.mean([len(p.propose(im)) for im in plain])
        rows.append(f"| {name} | " + " | ".join(cells) + f" | {crops:.2f} |")
    return rows


def micro_ap(scores: np.ndarray, labels: np.ndarray, n_pos: int) -> float:
    order = np.argsort(-scores, kind="stable")
    hits = labels[order]
    tp = np.cumsum(hits)
    precision = tp / np.arange(1, len(hits) + 1)
    return float((precision * hits).sum() / n_pos) if n_pos else 0.0


def section_match(cases, plain, all_art_stems, used, n_distractor_refs, seed):
    from navee_monitor.descriptors import build_embedder
    from navee_monitor.settings import load_settings

    rng = np.random.default_rng(seed + 1)
    arts = manifest("art")
    refs = [c["ref"] for c in cases]
    spare = [i for i in range(len(arts)) if i not in used]
    refs += [arts[i].stem for i in rng.choice(spare, n_distractor_refs, replace=False)]
    data_dir = Path(tempfile.mkdtemp(prefix="navee-bench-detect-"))
    settings = load_settings(None, environ={}, use_default_file=False, overrides={"data_dir": str(data_dir)})
    embedder = build_embedder(settings)
    by_stem = {a.stem: a for a in arts}
    ref_vecs = embedder.embed([load(by_stem[s]) for s in refs])

    yolo = YoloDetector(YOLO / "yolo-fastest-1.1-xl.weights", YOLO / "coco.names", YOLO / "yolo-fastest-1.1-xl.cfg")
    setups = {
        "yolo + regions": CompositeProposer([yolo, ContourRegionProposer()]),
        "yolo + regions + fixed": CompositeProposer([yolo, ContourRegionProposer(), FixedRegionsProposer()]),
    }
    queries = [(c["image"], c["ref"], c["kind"]) for c in cases] + [(im, None, "plain") for im in plain]
    # per setup and query: full-image similarities and, per region, (region, similarities)
    full = embedder.embed([q[0] for q in queries]) @ ref_vecs.T
    per_setup = {}
    for name, p in setups.items():
        regions_sims = []
        for image, _, _ in queries:
            regions = p.propose(image)
            sims = embedder.embed(crop_regions(image, regions)) @ ref_vecs.T if regions else np.zeros((0, len(refs)))
            regions_sims.append((regions, sims))
        per_setup[name] = regions_sims
    weightings = {
        "neutral: alpha 1, gamma 0 (default)": CropWeighting.neutral(),
        "alpha 0.7, gamma 0.25": CropWeighting(0.7, 1.0, 0.25),
        "alpha 0.5, gamma 0.5": CropWeighting(0.5, 1.0, 0.5),
        "alpha 0.85, gamma 0": CropWeighting(0.85, 1.0, 0.0),
        "alpha 0.3, gamma 0.25": CropWeighting(0.3, 1.0, 0.25),
        "alpha 1, gamma 0.5": CropWeighting(1.0, 1.0, 0.5),
    }
    ref_index = {s: i for i, s in enumerate(refs)}
    n_pos = len(cases)

    def evaluate(score_rows):
        scores = np.concatenate(score_rows)
        labels = np.concatenate([
            (np.arange(len(refs)) == ref_index[q[1]]) if q[1] else np.zeros(len(refs), bool) for q in queries])
        r1 = {k: [] for k in KINDS}
        for (_, ref, kind), row in zip(queries, score_rows):
            if ref:
                r1[kind].append(int(np.argmax(row)) == ref_index[ref])
        return micro_ap(scores, labels.astype(float), n_pos), {k: float(np.mean(v)) for k, v in r1.items()}

    rows = ["| search | crop weighting | uAP | " + " | ".join(f"R@1 {k}" for k in KINDS) + " |",
            "|---|---|---|" + "---|" * len(KINDS)]
    ap, r1 = evaluate([f for f in full])
    rows.append("| whole image only | - | " + f"{ap:.3f} | " + " | ".join(f"{r1[k]:.2f}" for k in KINDS) + " |")
    for name, regions_sims in per_setup.items():
        for wname, weighting in weightings.items():
            score_rows = []
            for (image, _, _), f, (regions, sims) in zip(queries, full, regions_sims):
                best = f.copy()
                for r, s in zip(regions, sims):
                    best = np.maximum(best, s * weighting.factor(r.area / (image.shape[0] * image.shape[1]), r.score))
                score_rows.append(best)
            ap, r1 = evaluate(score_rows)
            rows.append(f"| whole + {name} | {wname} | {ap:.3f} | " + " | ".join(f"{r1[k]:.2f}" for k in KINDS) + " |")
    return rows, len(refs), embedder.model_version


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=40, help="mock-ups per kind")
    ap.add_argument("--timing-photos", type=int, default=40)
    ap.add_argument("--match", action="store_true", help="also measure matching with the real embedder")
    ap.add_argument("--distractor-refs", type=int, default=200)
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args()
    if not (YOLO / "yolo-fastest-1.1-xl.weights").is_file():
        sys.exit(f"needs {YOLO}")
    cv2.setNumThreads(1)
    cases, plain, stems, used = build_cases(args.n, args.seed)
    photos = plain[: args.timing_photos] + [load(p) for p in sorted((SHARED / "data" / "detect").glob("*.jpg"))]
    yolo = YoloDetector(YOLO / "yolo-fastest-1.1-xl.weights", YOLO / "coco.names", YOLO / "yolo-fastest-1.1-xl.cfg",
                        input_size=320)
    regions = ContourRegionProposer()
    fixed = FixedRegionsProposer()
    print(f"## Region proposals (`benchmarks/detect.py`)\n\n{time.strftime('%Y-%m-%d')}, {platform.machine()}, "
          f"{os.cpu_count()} cores, OpenCV {cv2.__version__} single-threaded, load average "
          f"{os.getloadavg()[0]:.1f}; {args.n} mock-ups per kind, seed {args.seed}.\n")
    print("\n".join(section_timing({"YOLO-XL 320": yolo, "regions (contours)": regions,
                                    "YOLO + regions": CompositeProposer([yolo, regions])},
                                   photos, [c["image"] for c in cases[:40]])))
    print()
    print("\n".join(section_recall({
        "YOLO-XL 320": yolo, "regions": regions, "fixed crops": fixed,
        "YOLO + regions (default)": CompositeProposer([yolo, regions]),
        "YOLO + regions + fixed": CompositeProposer([yolo, regions, fixed], max_crops=12),
    }, cases, plain)))
    if args.match:
        rows, n_refs, version = section_match(cases, plain, stems, used, args.distractor_refs, args.seed)
        print(f"\nMatching ({version}, raw GeM cosine, {n_refs} references, {len(cases)} mock-up queries "
              f"+ {len(plain)} plain photos):\n")
        print("\n".join(rows))


if __name__ == "__main__":
    main()
