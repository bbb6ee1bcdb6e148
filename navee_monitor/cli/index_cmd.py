"""``navee-monitor index rebuild|stats``: the vector index of the reference collection."""

from __future__ import annotations

import json
from pathlib import Path

from navee_monitor.cli.context import AppContext
from navee_monitor.errors import UsageError


def register(sub) -> None:
    p = sub.add_parser("index", help="the vector index of the references: rebuild, stats")
    isub = p.add_subparsers(dest="index_command", metavar="ACTION", required=True)
    rb = isub.add_parser("rebuild", help="rebuild the index from stored descriptors and images (no download)")
    rb.add_argument("--model", metavar="PATH",
                    help="a model trained by `navee-monitor train` (set embedding.model_path too, "
                         "so the daemon uses it); references are re-embedded from their stored images")
    rb.add_argument("--refit-whitening", action="store_true",
                    help="fit the PCA-whitening again on the current references (when there are enough)")
    rb.add_argument("--json", action="store_true")
    rb.set_defaults(handler=rebuild_cmd)
    st = isub.add_parser("stats", help="what the index holds and which model built it (loads no model)")
    st.add_argument("--json", action="store_true")
    st.set_defaults(handler=stats_cmd)


def rebuild_cmd(ctx: AppContext) -> int:
    from navee_monitor.references.catalog import ReferenceCatalog
    from navee_monitor.store import db

    settings = ctx.settings
    if ctx.args.model:
        path = Path(ctx.args.model).expanduser()
        if not path.exists():
            raise UsageError(f"--model {path}: no such file or folder")
        settings = settings.model_copy(update={
            "embedding": settings.embedding.model_copy(update={"model_path": str(path.resolve())})
        })
    db.ensure_schema(settings.database_url)
    summary = ReferenceCatalog(settings).rebuild(refit_whitening=ctx.args.refit_whitening)
    if ctx.args.json:
        print(json.dumps(summary, indent=2))
    else:
        whitening = {"fit": "whitening fitted", "keep": "whitening kept", "none": "no whitening"}[summary["whitening"]]
        print(f"index rebuilt: {summary['references']} reference(s), {summary['reembedded']} re-embedded, "
              f"{whitening}, {summary['dim']}-d, model {summary['model_version']}")
    return 0


def stats_cmd(ctx: AppContext) -> int:
    from navee_monitor.references.catalog import ReferenceCatalog
    from navee_monitor.store import references as store

    stats = ReferenceCatalog(ctx.settings).stats()
    with ctx.session() as s:
        stats["descriptors"] = store.descriptor_versions(s)
        stats["references_ok"] = store.reference_stats(s)["by_status"].get("ok", 0)
    if ctx.args.json:
        print(json.dumps(stats, indent=2))
        return 0
    if not stats["model_version"]:
        print(f"no index yet in {stats['directory']} (add references, or run `navee-monitor index rebuild`)")
        return 0
    w = stats["whitening_policy"]
    whitening = (f"whitening {stats['whitening_version']} fitted on {stats['whitening_fitted_on']} references"
                 if stats["whitening_version"] else "no whitening (raw L2-normalised descriptors)")
    print(f"index: {stats['vectors']} vector(s) of {stats['references_ok']} ok reference(s), kind {stats['kind']}, "
          f"{stats['dim']}-d")
    print(f"model: {stats['model_version']}")
    print(f"{whitening}; policy: fit to {w['dim']}-d once >= {w['min_factor']} x {w['dim']} references, "
          f"refit after x{w['refit_growth']} growth")
    for version, n in stats["descriptors"].items():
        print(f"  stored descriptors of {version}: {n}")
    return 0
