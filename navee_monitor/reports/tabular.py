"""CSV and JSON reports.

CSV has one row per (alert, occurrence) — an alert seen on three pages gives
three rows with the same ``alert_id`` — so a spreadsheet can filter by page or
site; an alert with no occurrence still gets one row. Cells that a
spreadsheet would run as a formula (crawled text starting with ``=``, ``+``,
``-``, ``@``) are prefixed with ``'``.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from navee_monitor.alerts import review
from navee_monitor.reports.build import ReportData
from navee_monitor.settings import Settings
from navee_monitor.store.alert_review import url_host

CSV_COLUMNS = [
    "alert_id", "status", "score", "method", "reference", "bbox", "site", "domain", "page_url", "image_url",
    "alt_text", "page_title", "occurrence_first_seen", "occurrence_last_seen", "first_seen", "last_seen",
    "occurrences", "model_version",
]
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def render_csv(data: ReportData) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in data.alerts:
        a = r.alert
        base = {"alert_id": a.id, "status": a.status, "score": f"{a.score:.4f}", "method": a.method,
                "reference": a.reference_key, "bbox": " ".join(str(v) for v in a.bbox) if a.bbox else "",
                "first_seen": review.iso(a.first_seen), "last_seen": review.iso(a.last_seen),
                "occurrences": len(a.occurrences), "model_version": a.model_version}
        for o in a.occurrences or [None]:
            row = dict(base)
            if o is not None:
                row.update(site=review.site_name(r, o), domain=url_host(o.page_url), page_url=o.page_url,
                           image_url=o.image_url, alt_text=o.alt_text, page_title=o.page_title,
                           occurrence_first_seen=review.iso(o.first_seen), occurrence_last_seen=review.iso(o.last_seen))
            writer.writerow([_cell(row.get(c)) for c in CSV_COLUMNS])
    return buf.getvalue()


def render_json(settings: Settings, data: ReportData) -> str:
    doc = {
        "generated_at": review.iso(data.generated_at),
        "selection": data.describe_filter(),
        "counts": data.counts,
        "alerts": [review.alert_detail_json(settings, r) for r in data.alerts],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
