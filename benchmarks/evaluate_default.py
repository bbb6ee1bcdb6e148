"""Copy-detection benchmark at the default size, for BENCHMARKS.md ("Evaluation").

    python benchmarks/evaluate_default.py [--data-dir DIR] [--out DIR] [DATA_DIR]

Runs ``navee-monitor evaluate --size default --json --details OUT`` with the
given navee data directory (its ``models/`` supplies cached weights and the
YOLO files), stores the JSON beside the details, prints the markdown tables
and the wall-clock and CPU time of the whole run.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

from navee_monitor.cli.main import main
from navee_monitor.evaluation.report import markdown_summary


def run() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", default="../shared/data")
    parser.add_argument("--data-dir", help="navee data directory (default: the configured one)")
    parser.add_argument("--out", default=str(Path(tempfile.gettempdir()) / "navee-evaluation"))
    parser.add_argument("--size", default="default")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    argv = (["--data-dir", args.data_dir] if args.data_dir else []) + [
        "evaluate", args.data, "--size", args.size, "--json", "--details", str(out)]
    buf = io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(buf):
        status = main(argv)
    wall = time.perf_counter() - t0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    if status != 0:
        return status
    summary = json.loads(buf.getvalue())
    (out / "metrics.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    sys.stdout.write(markdown_summary(summary))
    print(f"\nwall clock {wall / 60:.1f} min, CPU {(usage.ru_utime + usage.ru_stime) / 60:.1f} min, "
          f"peak RSS {usage.ru_maxrss / 1024:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(run())
