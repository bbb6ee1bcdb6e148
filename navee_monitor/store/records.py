"""Plain dataclasses the rest of the code sees instead of ORM objects.

Area modules of ``store`` (``references.py``, ``crawl.py``, ``alerts.py``...)
convert rows to these with the ``from_row`` helpers.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any


def _from_row(cls, row):
    return cls(**{f.name: getattr(row, f.name) for f in fields(cls)})


@dataclass(frozen=True)
class Reference:
    id: int
    key: str
    collection: str
    source: str
    source_uri: str
    sha256: str | None
    size_bytes: int | None
    width: int | None
    height: int | None
    labels: dict[str, Any]
    status: str
    error_reason: str | None
    error: str | None
    image_path: str | None
    added_at: datetime
    pixel_sha256: str | None = None
    attempts: int = 0

    from_row = classmethod(_from_row)


@dataclass(frozen=True)
class ReferenceInfo:
    """What the matcher needs of one indexed reference (see ``store.references.reference_info``)."""

    key: str
    collection: str
    #: normalised image: relative to the data directory from ``store.references``,
    #: absolute from ``ReferenceCatalog.reference_info``
    image_path: str | None
    sha256: str | None
    pdq_hash: str | None
    pdq_quality: int | None
    labels: dict[str, Any]


@dataclass(frozen=True)
class WebImage:
    id: int
    sha256: str
    size_bytes: int
    width: int | None
    height: int | None
    content_type: str | None
    storage_path: str | None
    status: str
    error: str | None
    model_version: str | None
    created_at: datetime

    from_row = classmethod(_from_row)


@dataclass(frozen=True)
class Occurrence:
    id: int
    web_image_id: int
    site_id: int | None
    page_url: str
    image_url: str
    alt_text: str | None
    page_title: str | None
    first_seen: datetime
    last_seen: datetime

    from_row = classmethod(_from_row)


@dataclass(frozen=True)
class CrawlRun:
    id: int
    site_id: int
    started_at: datetime
    finished_at: datetime | None
    status: str
    stats: dict[str, Any]
    error: str | None

    from_row = classmethod(_from_row)


@dataclass(frozen=True)
class Site:
    id: int
    name: str
    enabled: bool
    last_run_at: datetime | None
    last_status: str | None
    last_error: str | None
    failure_count: int
    next_run_at: datetime | None

    from_row = classmethod(_from_row)


@dataclass(frozen=True)
class AlertEvent:
    at: datetime
    old_status: str | None
    new_status: str
    note: str | None
    actor: str | None

    from_row = classmethod(_from_row)


@dataclass(frozen=True)
class Alert:
    id: int
    reference_id: int
    web_image_id: int
    score: float
    method: str
    bbox: list[int] | None
    status: str
    model_version: str | None
    thumbnail_path: str | None
    details: dict[str, Any]
    first_seen: datetime
    last_seen: datetime
    # filled by queries that join them in
    reference_key: str | None = None
    occurrences: list[Occurrence] = field(default_factory=list)
    events: list[AlertEvent] = field(default_factory=list)


@dataclass(frozen=True)
class AllowRule:
    """A licensed use: ``reference_key`` may appear on ``domain`` and its subdomains."""

    id: int
    reference_id: int
    reference_key: str
    domain: str
    note: str | None
    created_at: datetime


@dataclass(frozen=True)
class ReviewedAlert:
    """An alert with what a reviewer looks at (``alerts list/show``, reports, web page).

    ``alert`` has ``reference_key``, ``occurrences`` (most recent first) and
    ``events`` (oldest first) filled in; ``site_names`` maps the occurrences'
    ``site_id`` to the site's name.
    """

    alert: Alert
    reference: Reference
    web_image: WebImage
    site_names: dict[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Notification:
    """One outbox entry: a batch of new alerts (or an operator warning) to announce."""

    id: int
    crawl_run_id: int | None
    created_at: datetime
    title: str
    body: str
    payload: dict[str, Any]
    attempts: int
    next_attempt_at: datetime | None
    sent_at: datetime | None
    last_error: str | None

    from_row = classmethod(_from_row)
