"""End-to-end matching throughput: decode + whole image + YOLO/region crops +
embedding + index search + PDQ + geometric verification, on real images.

A reference collection of ``--references`` artworks from ../shared/data is
ingested into a temporary data directory; then ``--queries`` images (half
modified copies of references, half photographs and other artworks) are
decoded from JPEG bytes and matched in batches of ``matching.batch_size``,
exactly as the matching worker does. Prints images/s (wall clock), CPU
milliseconds per image, the time per stage, and the machine's load average
(the figure is only meaningful on an otherwise idle machine). Stage times are
summed over the matcher's worker threads (``matching.workers``): the stages
overlap, so they add up to more than the wall-clock time.

    python benchmarks/matching.py [--references 300] [--queries 200] [--json]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--references", type=int, default=300)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from PIL import Image

    from navee_monitor.evaluation.dataset import build_evaluation_set
    from navee_monitor.evaluation.runner import evaluation_settings, ingest_references
    from navee_monitor.imaging.decode import decode_image
    from navee_monitor.matching.matcher import Matcher
    from navee_monitor.settings import load_settings
    from navee_monitor.store import db

    base = load_settings(None, use_default_file=True)
    half = args.queries // 2
    eval_set = build_evaluation_set(Path(args.data), references=args.references, positives=half,
                                    distractors=args.queries - half, seed=7)
    with tempfile.TemporaryDirectory() as tmp:
        settings = evaluation_settings(base, Path(tmp) / "data")
        db.upgrade(settings.database_url)
        ingest_references(settings, eval_set, Path(tmp) / "refs")
        blobs = []
        for q in eval_set.queries:
            buf = io.BytesIO()
            Image.fromarray(eval_set.render(q)).save(buf, "JPEG", quality=85)
            blobs.append(buf.getvalue())
        matcher = Matcher(settings)
        warm = [decode_image(b, settings.imaging, max_side=settings.imaging.max_side) for b in blobs[:2]]
        matcher.match(warm)  # loads the models
        matcher.timings.clear()
        batch = settings.matching.batch_size
        t0, c0 = time.perf_counter(), time.process_time()
        decode_s = 0.0
        alerts = 0
        for start in range(0, len(blobs), batch):
            d0 = time.perf_counter()
            images = [decode_image(b, settings.imaging, max_side=settings.imaging.max_side)
                      for b in blobs[start : start + batch]]
            decode_s += time.perf_counter() - d0
            alerts += sum(1 for res in matcher.match(images) if res and res[0].verdict == "match")
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        db.dispose_engines()
    n = len(blobs)
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "load_average_1m": round(os.getloadavg()[0], 2),
        "references": len(eval_set.references), "images": n, "batch_size": batch,
        "images_per_s": round(n / wall, 2), "cpu_ms_per_image": round(1000 * cpu / n, 1),
        "stage_s": {"decode": round(decode_s, 2), **{k: round(v, 2) for k, v in matcher.timings.items()}},
        "matches": alerts, "crops": settings.detector.enabled,
        "workers": settings.matching.workers, "embedding_runtime": settings.embedding.runtime,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for k, v in result.items():
            print(f"{k:>18}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
