"""``navee-monitor evaluate [DATA_DIR]``: the copy-detection benchmark."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from navee_monitor.cli.context import AppContext
from navee_monitor.cli.model_option import add_model_option, apply_model_option
from navee_monitor.errors import UsageError

log = logging.getLogger(__name__)

DEFAULT_DATA_DIR = "../shared/data"


def register(sub) -> None:
    p = sub.add_parser(
        "evaluate",
        help="copy-detection benchmark: uAP, R@P90, recall@1 per transform, PDQ/pHash baselines",
        description=(
            "Build a seeded set of references, transformed copies and distractors from a folder "
            "of images with a MANIFEST.csv, run the real matching pipeline on it (in a temporary "
            "data directory) with the PDQ and pHash baselines, and report the metrics."
        ),
    )
    p.add_argument("data", nargs="?", default=DEFAULT_DATA_DIR, metavar="DATA_DIR",
                   help=f"folder with MANIFEST.csv (file, kind=art|photo, medium_guess) (default: {DEFAULT_DATA_DIR})")
    p.add_argument("--size", choices=["small", "default"], default="default",
                   help="preset: small = 8 references/16 copies/8 distractors; default = 300/600/300")
    p.add_argument("--seed", type=int, default=0, help="seed of the set (default 0)")
    p.add_argument("--references", type=int, metavar="N", help="override the preset's reference count")
    p.add_argument("--queries", type=int, metavar="N", help="override the preset's positive query count")
    p.add_argument("--distractors", type=int, metavar="N", help="override the preset's distractor count")
    p.add_argument("--batch-size", type=int, metavar="N", help="images per match call (default matching.batch_size)")
    p.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    p.add_argument("--details", metavar="DIR",
                   help="write details.json (per-query results), summary.md and worst_misses.html there")
    add_model_option(p)
    p.set_defaults(handler=evaluate)


def evaluate(ctx: AppContext) -> int:
    from navee_monitor.evaluation.dataset import SIZES, build_evaluation_set
    from navee_monitor.evaluation.report import markdown_summary, write_details
    from navee_monitor.evaluation.runner import run_evaluation, summarize

    args = ctx.args
    data = Path(args.data).expanduser()
    if not data.is_dir():
        raise UsageError(f"evaluation data folder {data} does not exist (give DATA_DIR, a folder with MANIFEST.csv)")
    preset = SIZES[args.size]
    counts = {
        "references": preset.references if args.references is None else args.references,
        "positives": preset.positives if args.queries is None else args.queries,
        "distractors": preset.distractors if args.distractors is None else args.distractors,
    }
    if min(counts.values()) < 0 or counts["references"] < 1:
        raise UsageError("--references must be at least 1; --queries and --distractors at least 0")
    if args.batch_size is not None and args.batch_size < 1:
        raise UsageError("--batch-size must be at least 1")
    eval_set = build_evaluation_set(data, seed=args.seed, **counts)
    log.info("evaluation set: %d references, %d queries (%d copies)", len(eval_set.references),
             len(eval_set.queries), len(eval_set.positives))

    def progress(done: int, total: int) -> None:
        log.info("evaluated %d/%d queries", done, total)

    run = run_evaluation(apply_model_option(ctx), eval_set, batch_size=args.batch_size, progress=progress)
    summary = summarize(run)
    if args.details:
        for path in write_details(run, summary, Path(args.details).expanduser()):
            log.info("wrote %s", path)
    if args.json:
        json.dump(summary, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(markdown_summary(summary))
    return 0
