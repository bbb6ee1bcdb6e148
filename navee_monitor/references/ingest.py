"""Adding references: fetch, decode, normalise, store, describe, index.

Pipeline per item (worker threads, bounded): read the file or download the URL
(:class:`Downloader`), sniff and decode safely (``imaging.decode``), keep the
image normalised (at most ``imaging.max_side`` px, JPEG q95) under
``references/<sha[:2]>/<sha>.jpg`` (sha256 of the original bytes), hash its
pixels and its PDQ. The main thread collects results in batches of
``embedding.batch_size``: exact duplicates within the collection (same
pixels) are recorded with status ``duplicate`` and not indexed; the others are
embedded, written to the database with their raw descriptors in one
transaction, and added to the index, which is saved once at the end.

Resumption: a reference whose key is already stored (``ok``/``duplicate``)
is not fetched again; a failed one only with ``retry_failed``. Every failure is
recorded on the reference with its reason, and processing goes on.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from navee_monitor.errors import FetchError, ImageTooLargeError, InputError, UsageError
from navee_monitor.references.base import ReferenceItem
from navee_monitor.references.progress import Progress
from navee_monitor.settings import Settings
from navee_monitor.store import db
from navee_monitor.store import references as store

log = logging.getLogger(__name__)

JPEG_QUALITY = 95
#: failures are written to the database at least every this many
_FAILURE_FLUSH = 200


@dataclass
class IngestReport:
    total: int = 0
    added: int = 0
    already_stored: int = 0
    #: earlier failures left alone (no ``retry_failed``)
    skipped_failed: int = 0
    #: (key, key of the reference with the same pixels)
    duplicates: list[tuple[str, str]] = field(default_factory=list)
    failures: Counter = field(default_factory=Counter)
    #: (key, reason, message) of this run's failures (first 100)
    failed: list[tuple[str, str, str]] = field(default_factory=list)
    #: files read or URLs downloaded this run
    fetched: int = 0
    interrupted: bool = False
    elapsed_s: float = 0.0

    @property
    def failed_count(self) -> int:
        return sum(self.failures.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total, "added": self.added, "already_stored": self.already_stored,
            "skipped_failed": self.skipped_failed, "duplicates": [list(d) for d in self.duplicates],
            "failed": self.failed_count, "failures_by_reason": dict(sorted(self.failures.items())),
            "fetched": self.fetched, "interrupted": self.interrupted, "elapsed_s": round(self.elapsed_s, 3),
        }


@dataclass
class _Prepared:
    item: ReferenceItem
    stored: store.StoredImage
    rgb: np.ndarray
    pdq: tuple[str | None, int | None]


@dataclass
class _Failed:
    item: ReferenceItem
    reason: str
    message: str


# ---- public entry points ------------------------------------------------------------


def add_references(settings: Settings, inputs: list[str], collection: str = "default", key_from: str = "stem",
                   *, retry_failed: bool = False, progress: bool = True, stop: threading.Event | None = None,
                   catalog=None) -> IngestReport:
    """Files, folders (recursive) and URL lists (``.txt``/``.csv``) or URLs -> stored, indexed references."""
    from navee_monitor.references.sources import expand_inputs

    items = expand_inputs(inputs, key_from)
    return ingest_items(settings, items, collection, retry_failed=retry_failed, progress=progress, stop=stop,
                        catalog=catalog, what="references add")


def import_bam(settings: Settings, sqlite_path: str | Path, where: Sequence[str] = (), crowd: bool = False,
               limit: int | None = None, collection: str = "bam", *, retry_failed: bool = False,
               progress: bool = True, stop: threading.Event | None = None, catalog=None) -> IngestReport:
    """References from a BAM database, keyed by ``mid``, keeping the 20 attribute labels."""
    from navee_monitor.references.bam import BamSource, parse_where

    if limit is not None and limit < 1:
        raise UsageError("--limit must be at least 1")
    source = BamSource(Path(sqlite_path), parse_where(where), crowd=crowd, limit=limit)
    items = list(source.items())
    log.info("BAM %s: %d module(s) selected", sqlite_path, len(items))
    return ingest_items(settings, items, collection, retry_failed=retry_failed, progress=progress, stop=stop,
                        catalog=catalog, what="references import-bam")


def ingest_items(settings: Settings, items: Sequence[ReferenceItem], collection: str = "default", *,
                 retry_failed: bool = False, progress: bool = True, stop: threading.Event | None = None,
                 catalog=None, what: str = "references") -> IngestReport:
    started = time.monotonic()
    if not collection or len(collection) > 255:
        raise UsageError("--collection must be a non-empty name of at most 255 characters")
    db.ensure_schema(settings.database_url)
    report = IngestReport(total=len(items))
    todo = _plan(settings, items, report, retry_failed)
    if todo:
        if catalog is None:
            from navee_monitor.references.catalog import ReferenceCatalog

            catalog = ReferenceCatalog(settings)
        _Run(settings, collection, catalog, report, stop or threading.Event()).run(todo, progress, what)
    report.elapsed_s = time.monotonic() - started
    log.info("%s: %d added, %d already stored, %d duplicate(s), %d failed%s%s", what, report.added,
             report.already_stored, len(report.duplicates), report.failed_count,
             f", {report.skipped_failed} earlier failure(s) skipped (--retry-failed retries them)"
             if report.skipped_failed else "", " (interrupted)" if report.interrupted else "")
    return report


# ---- planning: resumption and key clashes -----------------------------------------


def _plan(settings: Settings, items: Sequence[ReferenceItem], report: IngestReport,
          retry_failed: bool) -> list[ReferenceItem]:
    with db.session_scope(settings.database_url) as s:
        existing = store.get_references(s, [i.key for i in items])
    todo, clashes = [], []
    for item in items:
        ref = existing.get(item.key)
        if ref is None or ref.status == store.STATUS_PENDING and ref.source_uri == item.uri:
            todo.append(item)
        elif ref.source_uri != item.uri:
            clashes.append((item, ref))
        elif ref.status in (store.STATUS_OK, store.STATUS_DUPLICATE):
            report.already_stored += 1
        elif retry_failed:
            todo.append(item)
        else:
            report.skipped_failed += 1
    if clashes:
        lines = [f"reference key '{i.key}' is already used by {r.source_uri} (collection {r.collection}); "
                 f"cannot add {i.uri}" for i, r in clashes[:5]]
        more = f"\n  ... and {len(clashes) - 5} more" if len(clashes) > 5 else ""
        raise UsageError("\n  ".join(lines) + more +
                         "\n  (rename the file, use --key-from path, or `references remove KEY` first)")
    if report.already_stored:
        log.info("%d reference(s) already stored, not fetched again", report.already_stored)
    return todo


# ---- one run ----------------------------------------------------------------------------


class _Run:
    def __init__(self, settings: Settings, collection: str, catalog, report: IngestReport, stop: threading.Event):
        self.settings = settings
        self.collection = collection
        self.catalog = catalog
        self.report = report
        self.stop = stop
        self.ok: list[_Prepared] = []
        self.failed: list[_Failed] = []
        self.added_any = False
        self.downloader = None

    def run(self, todo: list[ReferenceItem], show_progress: bool, what: str) -> None:
        from navee_monitor.references.downloader import Downloader

        cfg = self.settings.references
        has_urls = any(i.source in ("url", "bam") for i in todo)
        if has_urls:
            self.downloader = Downloader(self.settings, self.stop)
        workers = cfg.download_concurrency if has_urls else max(1, min(4, os.cpu_count() or 1))
        bar = Progress(len(todo), what, cfg.progress_interval_s, enabled=show_progress)
        batch = self.settings.embedding.batch_size
        # workers prepare the next batch while the main thread embeds this one
        window = max(2 * workers, batch)
        pending: set[Future] = set()
        remaining = iter(todo)
        try:
            with ThreadPoolExecutor(workers, thread_name_prefix="reference-ingest") as pool:
                def refill() -> None:
                    while len(pending) < window and not self.stop.is_set():
                        item = next(remaining, None)
                        if item is None:
                            return
                        pending.add(pool.submit(self._prepare, item))

                refill()
                while pending:
                    done, still = wait(pending, return_when=FIRST_COMPLETED)
                    pending.clear()
                    pending.update(still)
                    for fut in done:
                        self._collect(fut.result(), bar)
                    if len(self.ok) >= batch or len(self.failed) >= _FAILURE_FLUSH:
                        self._flush()
                    refill()
        except KeyboardInterrupt:
            self.stop.set()
            for fut in pending:
                fut.cancel()
            self.report.interrupted = True
            self._finish(bar)
            raise
        if self.stop.is_set():
            self.report.interrupted = True
        self._finish(bar)

    def _finish(self, bar: Progress) -> None:
        bar.close()
        try:
            self._flush()
            if self.added_any:
                self.catalog.save()
        finally:
            if self.downloader is not None:
                self.downloader.close()

    def _collect(self, result: _Prepared | _Failed, bar: Progress) -> None:
        if isinstance(result, _Failed):
            if result.reason == "interrupted":  # not a property of the reference: retried next run
                return
            self.report.fetched += 1
            self.failed.append(result)
            bar.update(result.reason)
        else:
            self.report.fetched += 1
            self.ok.append(result)
            bar.update("ok")

    # -- worker side ---------------------------------------------------------------------
    def _prepare(self, item: ReferenceItem) -> _Prepared | _Failed:
        from navee_monitor.imaging.decode import decode_image, probe_image
        from navee_monitor.references.describe import safe_pdq

        if self.stop.is_set():
            return _Failed(item, "interrupted", "interrupted")
        limits = self.settings.imaging
        try:
            data = self._read(item)
            info = probe_image(data, limits)
            rgb = decode_image(data, limits, max_side=limits.max_side)
            sha = hashlib.sha256(data).hexdigest()
            rel = f"references/{sha[:2]}/{sha}.jpg"
            _write_jpeg(self.settings.data_dir / rel, rgb)
        except InputError as exc:
            return _Failed(item, exc.reason, str(exc))
        except OSError as exc:
            return _Failed(item, "storage", f"cannot store the image: {exc}")
        h, w = rgb.shape[:2]
        pixel_sha = hashlib.sha256(f"{w}x{h}:".encode() + rgb.tobytes()).hexdigest()
        stored = store.StoredImage(
            key=item.key, collection=self.collection, source=item.source, source_uri=item.uri,
            labels=dict(item.labels), sha256=sha, pixel_sha256=pixel_sha, size_bytes=len(data),
            width=info.width, height=info.height, image_path=rel,
        )
        return _Prepared(item, stored, rgb, safe_pdq(rgb))

    def _read(self, item: ReferenceItem) -> bytes:
        if item.source in ("url", "bam"):
            return self.downloader.fetch(item.uri)
        max_bytes = self.settings.imaging.max_bytes
        path = Path(item.uri)
        try:
            size = path.stat().st_size
            if size > max_bytes:
                raise ImageTooLargeError(f"too large: {path} has {size} bytes, over imaging.max_bytes ({max_bytes})")
            return path.read_bytes()
        except FileNotFoundError as exc:
            raise FetchError(f"{path} no longer exists", "not_found") from exc
        except OSError as exc:
            raise FetchError(f"cannot read {path}: {exc.strerror or exc}", "unreadable") from exc

    # -- main-thread side ------------------------------------------------------------------
    def _flush(self) -> None:
        from navee_monitor.references.describe import descriptor_rows

        ok, failed = self.ok, self.failed
        self.ok, self.failed = [], []
        if not ok and not failed:
            return
        unique: list[_Prepared] = []
        dups: list[tuple[_Prepared, str]] = []
        vectors = np.zeros((0, 0), dtype=np.float32)
        if ok:
            self.catalog.load()  # index current before this batch's rows are written
            with db.session_scope(self.settings.database_url) as s:
                known = store.find_pixel_duplicates(s, self.collection, [p.stored.pixel_sha256 for p in ok])
            for p in ok:
                same = known.get(p.stored.pixel_sha256)
                if same and same != p.item.key:
                    dups.append((p, same))
                else:
                    known[p.stored.pixel_sha256] = p.item.key
                    unique.append(p)
            if unique:
                vectors = self.catalog.describe([p.rgb for p in unique])
        with db.session_scope(self.settings.database_url) as s:
            for p in unique:
                store.record_stored(s, p.stored)
            for p, same in dups:
                store.record_stored(s, p.stored, duplicate_of=same)
            if unique:
                store.save_descriptors(s, descriptor_rows(self.catalog, [p.item.key for p in unique], vectors,
                                                          [p.pdq for p in unique]))
            for f in failed:
                store.record_failure(s, key=f.item.key, collection=self.collection, source=f.item.source,
                                     source_uri=f.item.uri, labels=dict(f.item.labels), reason=f.reason,
                                     error=f.message)
        if unique:
            self.catalog.add([p.item.key for p in unique], vectors, save=False)
            self.added_any = True
        self.report.added += len(unique)
        for p, same in dups:
            log.info("reference %s (%s) has the same pixels as %s: recorded as duplicate, not indexed",
                     p.item.key, p.item.uri, same)
            self.report.duplicates.append((p.item.key, same))
        for f in failed:
            log.debug("reference %s (%s) failed: %s", f.item.key, f.item.uri, f.message)
            self.report.failures[f.reason] += 1
            if len(self.report.failed) < 100:
                self.report.failed.append((f.item.key, f.reason, f.message))


def _write_jpeg(path: Path, rgb: np.ndarray) -> None:
    """Atomically write the normalised image (content-addressed: an existing file is kept)."""
    if path.exists():
        return
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=JPEG_QUALITY)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_bytes(buf.getvalue())
    os.replace(tmp, path)
