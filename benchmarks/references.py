"""References added per second, end to end, from a local folder of images.

    python benchmarks/references.py [--n 1000] [--folder ../shared/data/art] [--index-kind lsh]

Reads the first N images of the folder in place (nothing is copied), into a
fresh temporary data directory: decode, normalise (imaging.max_side), store
as JPEG, pixel hash, PDQ, embed (EfficientNet-Lite0, TensorFlow CPU), write
rows and descriptors, index (and the whitening fit when the policy says so).
The embedder is loaded before the clock starts; its load time is reported
separately. The CPU time of the process (all threads) is reported too: on a
shared machine it does not depend on the neighbours, wall-clock rates do.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--folder", default=str(REPO.parent / "shared" / "data" / "art"))
    ap.add_argument("--index-kind", default="lsh", choices=["lsh", "itq", "exact", "faiss"])
    args = ap.parse_args()

    from navee_monitor.logging_setup import configure_logging
    from navee_monitor.references.catalog import ReferenceCatalog
    from navee_monitor.references.ingest import add_references
    from navee_monitor.references.sources import IMAGE_SUFFIXES
    from navee_monitor.settings import load_settings
    from navee_monitor.store import db

    configure_logging("warning")
    files = sorted(p for p in Path(args.folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[: args.n]
    if len(files) < args.n:
        raise SystemExit(f"{args.folder} holds only {len(files)} images, {args.n} asked")
    with tempfile.TemporaryDirectory(prefix="navee-bench-refs-") as tmp:
        settings = load_settings(None, environ={}, use_default_file=False,
                                 overrides={"data_dir": tmp, "index": {"kind": args.index_kind}})
        db.upgrade(settings.database_url)
        catalog = ReferenceCatalog(settings)
        t0 = time.perf_counter()
        catalog.describe([np.zeros((64, 64, 3), np.uint8)])  # load TensorFlow and the weights
        load_s = time.perf_counter() - t0
        t0, c0 = time.perf_counter(), time.process_time()
        report = add_references(settings, [str(f) for f in files], catalog=catalog, progress=False)
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
        stats = catalog.stats()
    result = {
        "images": len(files),
        "added": report.added,
        "duplicates": len(report.duplicates),
        "failed": report.failed_count,
        "seconds": round(elapsed, 1),
        "references_per_s": round(len(files) / elapsed, 2),
        # CPU time of all threads: independent of neighbours on a shared machine
        "cpu_ms_per_reference": round(1000 * cpu / len(files), 1),
        "references_per_s_on_idle_cores_from_cpu": round(len(files) / (cpu / (os.cpu_count() or 1)), 1),
        "load_average": [round(x, 1) for x in os.getloadavg()],
        "embedder_load_s": round(load_s, 1),
        "index": args.index_kind,
        "whitening": stats["whitening_version"],
        "python": platform.python_version(),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
