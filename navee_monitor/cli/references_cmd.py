"""``navee-monitor references add|import-bam|list|stats|remove``."""

from __future__ import annotations

import json
import sys

from navee_monitor.cli.context import AppContext
from navee_monitor.errors import NotFoundError

#: reasons users see most, explained in ``references stats``
REASONS = {
    "timeout": "the server did not answer in time",
    "connection": "no connection (DNS, refused, reset)",
    "not_an_image": "the content is not an image (HTML page, text)",
    "corrupt": "damaged or truncated image",
    "too_large": "over imaging.max_bytes / max_pixels",
    "unsupported_format": "an image format not accepted",
    "not_found": "the file no longer exists",
    "missing_image": "the stored image vanished from the data directory",
}


def register(sub) -> None:
    p = sub.add_parser("references", help="the reference collection: artworks to protect")
    rsub = p.add_subparsers(dest="references_command", metavar="ACTION", required=True)

    add = rsub.add_parser("add", help="add image files, folders (recursive), URL lists (.txt/.csv) or URLs")
    add.add_argument("inputs", nargs="+", metavar="PATH_OR_URL")
    add.add_argument("--collection", default="default", help="collection name (default: default)")
    add.add_argument("--key-from", choices=["stem", "path"], default="stem",
                     help="reference key: file stem (default) or path relative to the folder given")
    add.add_argument("--retry-failed", action="store_true", help="retry references that failed before")
    add.add_argument("--json", action="store_true", help="print the report as JSON")
    add.set_defaults(handler=add_cmd)

    bam = rsub.add_parser("import-bam", help="import references from a BAM (Behance Artistic Media) SQLite file")
    bam.add_argument("sqlite", metavar="SQLITE")
    bam.add_argument("--where", action="append", default=[], metavar="ATTR=LABEL",
                     help="keep modules with this label, e.g. media_oilpaint=positive (repeatable, ANDed)")
    bam.add_argument("--crowd", action="store_true", help="filter on crowd labels instead of automatic labels")
    bam.add_argument("--limit", type=int, help="at most N modules (by mid)")
    bam.add_argument("--collection", default="bam", help="collection name (default: bam)")
    bam.add_argument("--retry-failed", action="store_true", help="retry references that failed before")
    bam.add_argument("--json", action="store_true", help="print the report as JSON")
    bam.set_defaults(handler=import_bam_cmd)

    ls = rsub.add_parser("list", help="list references")
    ls.add_argument("--collection")
    ls.add_argument("--status", help="ok | error | duplicate")
    ls.add_argument("--limit", type=int)
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(handler=list_cmd)

    st = rsub.add_parser("stats", help="counts by status, failure reason and collection; the index")
    st.add_argument("--json", action="store_true")
    st.set_defaults(handler=stats_cmd)

    rm = rsub.add_parser("remove", help="remove references (rows, stored images, index entries)")
    rm.add_argument("keys", nargs="+", metavar="KEY")
    rm.set_defaults(handler=remove_cmd)


# ---- add / import ---------------------------------------------------------------------


def _print_report(report, as_json: bool) -> int:
    if as_json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        parts = [f"added {report.added}", f"already stored {report.already_stored}",
                 f"duplicates {len(report.duplicates)}", f"failed {report.failed_count}"]
        print(", ".join(parts) + (" (interrupted)" if report.interrupted else ""))
        for key, same in report.duplicates[:20]:
            print(f"  duplicate: {key} has the same pixels as {same} (not indexed)")
        for reason, n in sorted(report.failures.items()):
            print(f"  {reason}: {n}")
        for key, reason, message in report.failed[:10]:
            print(f"    {key}: {message}")
        if report.skipped_failed:
            print(f"  {report.skipped_failed} earlier failure(s) not retried (use --retry-failed)")
    attempted = report.added + len(report.duplicates) + report.failed_count
    # exit 3 only when every input this run tried failed (nothing new, nothing already there)
    if attempted and report.failed_count == attempted and not report.already_stored:
        return 3
    return 0


def add_cmd(ctx: AppContext) -> int:
    from navee_monitor.references.ingest import add_references

    a = ctx.args
    report = add_references(ctx.settings, a.inputs, collection=a.collection, key_from=a.key_from,
                            retry_failed=a.retry_failed, progress=True)
    return _print_report(report, a.json)


def import_bam_cmd(ctx: AppContext) -> int:
    from navee_monitor.references.ingest import import_bam

    a = ctx.args
    report = import_bam(ctx.settings, a.sqlite, where=a.where, crowd=a.crowd, limit=a.limit,
                        collection=a.collection, retry_failed=a.retry_failed, progress=True)
    return _print_report(report, a.json)


# ---- list / stats -------------------------------------------------------------------------


def reference_json(ref) -> dict:
    failed = ref.status == "error"
    return {
        "key": ref.key,
        "collection": ref.collection,
        # "ok", "duplicate", or the failure reason (http_404, timeout, not_an_image...)
        "status": (ref.error_reason or "error") if failed else ref.status,
        "reason": ref.error_reason,
        "error": ref.error,
        "labels": ref.labels or {},
        "source": ref.source,
        "source_uri": ref.source_uri,
        "sha256": ref.sha256,
        "width": ref.width,
        "height": ref.height,
        "image_path": ref.image_path,
        "attempts": ref.attempts,
        "added_at": ref.added_at.isoformat() if ref.added_at else None,
    }


def list_cmd(ctx: AppContext) -> int:
    from navee_monitor.store import references as store

    a = ctx.args
    with ctx.session() as s:
        refs = store.list_references(s, collection=a.collection, status=a.status, limit=a.limit)
    if a.json:
        print(json.dumps([reference_json(r) for r in refs], indent=2))
        return 0
    if not refs:
        print("no references (add some with `navee-monitor references add` or `references import-bam`)")
        return 0
    width = max(len(r.key) for r in refs)
    for r in refs:
        state = reference_json(r)["status"]
        extra = f"  {r.error}" if r.error else ""
        print(f"{r.key:<{width}}  {r.collection:<12} {state:<14} {r.source_uri}{extra}")
    return 0


def stats_cmd(ctx: AppContext) -> int:
    from navee_monitor.references.catalog import ReferenceCatalog
    from navee_monitor.store import references as store

    with ctx.session() as s:
        stats = store.reference_stats(s)
        stats["descriptors"] = store.descriptor_versions(s)
    stats["index"] = ReferenceCatalog(ctx.settings).stats()
    if ctx.args.json:
        print(json.dumps(stats, indent=2))
        return 0
    print(f"references: {stats['total']}")
    for status, n in stats["by_status"].items():
        print(f"  {status}: {n}")
    if stats["failures_by_reason"]:
        print("failures by reason:")
        for reason, n in stats["failures_by_reason"].items():
            hint = REASONS.get(reason, "HTTP status" if reason.startswith("http_") else "")
            print(f"  {reason}: {n}" + (f"  ({hint})" if hint else ""))
    if stats["by_collection"]:
        print("collections:")
        for coll, counts in stats["by_collection"].items():
            print(f"  {coll}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    idx = stats["index"]
    print(f"index: {idx['vectors']} vector(s), {idx['kind'] or 'not built'}, model {idx['model_version'] or '-'}")
    return 0


# ---- remove ------------------------------------------------------------------------------


def remove_cmd(ctx: AppContext) -> int:
    from navee_monitor.references.catalog import ReferenceCatalog
    from navee_monitor.store import references as store

    keys = list(dict.fromkeys(ctx.args.keys))
    with ctx.session() as s:
        known = store.get_references(s, keys)
        unknown = [k for k in keys if k not in known]
        if unknown:
            raise NotFoundError(f"no reference with key {', '.join(repr(k) for k in unknown[:10])}"
                                " (see `navee-monitor references list`); nothing removed")
        removed, orphaned = store.remove_references(s, keys)
    unindexed = ReferenceCatalog(ctx.settings).remove(keys)
    for rel in orphaned:
        try:
            (ctx.settings.data_dir / rel).unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            print(f"navee-monitor: warning: cannot delete {rel}: {exc}", file=sys.stderr)
    print(f"removed {len(removed)} reference(s) ({unindexed} from the index, {len(orphaned)} stored image(s) deleted)")
    return 0
