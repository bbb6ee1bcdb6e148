"""``navee-monitor match PATH_OR_URL...`` and ``navee-monitor check-url URL``.

JSON shape (DESIGN.md section 5): one array, one object per input image,
``{"input", "error", "matches": [{"reference", "score", "verdict", "method", "bbox"}]}``.
Exit status: 0 success, 1 at least one ``match`` verdict, 2 usage error,
3 every input failed.
"""

from __future__ import annotations

import json
import sys

from navee_monitor.cli.context import AppContext
from navee_monitor.cli.model_option import add_model_option, apply_model_option
from navee_monitor.errors import InputError


def register(sub) -> None:
    p = sub.add_parser("match", help="match image files or URLs against the references (records nothing)")
    p.add_argument("inputs", nargs="+", metavar="PATH_OR_URL")
    p.add_argument("--json", action="store_true", help="print one JSON array")
    p.add_argument("--top-k", type=int, default=None, metavar="N", help="matches reported per image")
    add_model_option(p)
    p.set_defaults(handler=match)

    c = sub.add_parser("check-url", help="fetch a page or image URL and match what it shows")
    c.add_argument("url")
    c.add_argument("--json", action="store_true", help="print one JSON array")
    c.add_argument("--top-k", type=int, default=None, metavar="N", help="matches reported per image")
    c.add_argument("--record", action="store_true",
                   help="store the images and record alerts (like a crawl); default: record nothing")
    add_model_option(c)
    c.set_defaults(handler=check_url)


def _settings_for(ctx: AppContext):
    s = apply_model_option(ctx)
    if ctx.args.top_k:
        if ctx.args.top_k < 1:
            from navee_monitor.errors import UsageError

            raise UsageError("--top-k must be at least 1")
        s = s.model_copy(update={"matching": s.matching.model_copy(update={"top_k": max(ctx.args.top_k, s.matching.top_k)})})
    return s


def match(ctx: AppContext) -> int:
    from navee_monitor.matching.inputs import load_input
    from navee_monitor.matching.matcher import Matcher

    settings = _settings_for(ctx)
    with ctx.session():  # refuses an unmigrated database with advice
        pass
    loaded = []
    for item in ctx.args.inputs:
        try:
            loaded.append((item, load_input(item, settings), None))
        except InputError as exc:
            loaded.append((item, None, str(exc)))
    matcher = Matcher(settings)
    good = [img for _, img, _ in loaded if img is not None]
    results = iter(matcher.match(good)) if good else iter(())
    rows = []
    for item, img, error in loaded:
        rows.append({"input": item, "error": error, "matches": [] if img is None else _limit(next(results), ctx)})
    return _emit(ctx, rows)


def check_url(ctx: AppContext) -> int:
    from navee_monitor.matching.check_url import check_url as run_check

    settings = _settings_for(ctx)
    with ctx.session():
        pass
    rows = run_check(settings, ctx.args.url, record=ctx.args.record)
    for row in rows:
        row["matches"] = _limit(row["matches"], ctx) if row["matches"] else []
    return _emit(ctx, rows)


def _limit(matches, ctx: AppContext) -> list:
    n = ctx.args.top_k
    return list(matches[:n] if n else matches)


def _emit(ctx: AppContext, rows: list[dict]) -> int:
    serial = [{**r, "matches": [m.as_json() if hasattr(m, "as_json") else m for m in r["matches"]]} for r in rows]
    if ctx.args.json:
        print(json.dumps(serial, indent=2))
    else:
        for r in serial:
            if r["error"]:
                print(f"{r['input']}: error: {r['error']}")
            elif not r["matches"]:
                print(f"{r['input']}: no match")
            else:
                print(f"{r['input']}:")
                for m in r["matches"]:
                    where = f" at {m['bbox']}" if m["bbox"] else ""
                    print(f"  {m['verdict']:9s} {m['score']:.3f}  {m['reference']}  ({m['method']}{where})")
    sys.stdout.flush()
    if serial and all(r["error"] for r in serial):
        return 3
    return 1 if any(m["verdict"] == "match" for r in serial for m in r["matches"]) else 0
