"""``navee-monitor models fetch|list``: the YOLO detector files (and what else sits in models/)."""

from __future__ import annotations

import json
from pathlib import Path

from navee_monitor.cli.context import AppContext


def register(sub) -> None:
    p = sub.add_parser("models", help="download or list model files (YOLO detector)")
    msub = p.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    fetch = msub.add_parser(
        "fetch",
        help="download the default YOLO files (Yolo-Fastest-1.1-XL, COCO) with SHA-256 checks",
        description="Downloads yolo-fastest-1.1-xl.cfg, yolo-fastest-1.1-xl.weights and coco.names from "
        "detector.download_base_url into <data_dir>/models/ (or --dest), verifying each file's SHA-256.",
    )
    fetch.add_argument("--dest", metavar="DIR", help="download into DIR instead of <data_dir>/models/")
    fetch.add_argument("--force", action="store_true", help="download even files already present and intact")
    fetch.set_defaults(handler=fetch_models)
    lst = msub.add_parser("list", help="show which model files are present and where")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(handler=list_models)


def fetch_models(ctx: AppContext) -> int:
    from navee_monitor.detect.model_files import fetch_default_models, models_dir

    s = ctx.settings
    dest = Path(ctx.args.dest).expanduser() if ctx.args.dest else models_dir(s)
    fetched = fetch_default_models(
        s.detector.download_base_url, dest, timeout_s=s.detector.download_timeout_s, force=ctx.args.force
    )
    for f in fetched:
        print(f"{f.action:10s} {f.path}  sha256 {f.sha256[:16]}... ok")
    if ctx.args.dest and dest.resolve() != models_dir(s).resolve():
        print(f"(set detector.cfg/weights/names to these paths, or move them to {models_dir(s)})")
    return 0


def list_models(ctx: AppContext) -> int:
    from navee_monitor.detect.model_files import DEFAULT_MODEL_FILES, detector_files, models_dir, sha256_file

    s = ctx.settings
    files = detector_files(s)
    expected = {name: digest for name, digest in DEFAULT_MODEL_FILES.values()}
    rows = []
    for role, path in (("cfg", files.cfg), ("weights", files.weights), ("names", files.names)):
        if path is None:
            continue
        row = {"role": f"detector.{role}", "path": str(path), "present": path.is_file(),
               "bytes": None, "checksum": None}
        if row["present"]:
            row["bytes"] = path.stat().st_size
            if path.name in expected:  # a default file: say whether it is intact
                row["checksum"] = "ok" if sha256_file(path) == expected[path.name] else "MISMATCH"
        rows.append(row)
    listed = {Path(r["path"]).resolve() for r in rows}
    base = models_dir(s)
    others = []
    if base.is_dir():
        for p in sorted(base.rglob("*")):
            if p.is_file() and not p.name.startswith(".") and p.resolve() not in listed:
                others.append({"path": str(p), "bytes": p.stat().st_size})
    if ctx.args.json:
        print(json.dumps({"models_dir": str(base), "detector": rows, "other_files": others}, indent=2))
        return 0
    print(f"models directory: {base}")
    print(f"detector ({s.detector.format}, {'enabled' if s.detector.enabled else 'disabled'}):")
    for r in rows:
        state = f"present, {r['bytes']} bytes" if r["present"] else "MISSING"
        if r["checksum"]:
            state += f", checksum {r['checksum']}"
        print(f"  {r['role']:17s} {r['path']}  ({state})")
    if any(not r["present"] for r in rows):
        print("  -> crops are disabled until the files exist: run `navee-monitor models fetch`")
    if others:
        print("other files:")
        for o in others:
            print(f"  {o['path']}  ({o['bytes']} bytes)")
    return 0
