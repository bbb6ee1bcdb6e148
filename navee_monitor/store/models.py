"""SQLAlchemy 2.0 typed ORM models of the whole domain.

ORM objects never leave the ``store`` package: the functions in the other
``store`` modules return the plain dataclasses of :mod:`navee_monitor.store.records`.
The Alembic revisions in ``migrations/`` must produce exactly this schema
(a test runs autogenerate against a migrated database and expects no diff).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {
        datetime: DateTime(timezone=True),
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


# ---- reference collection --------------------------------------------------


class ReferenceRow(Base):
    __tablename__ = "references"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: stable key users and scripts rely on (file stem, BAM mid...)
    key: Mapped[str] = mapped_column(String(255), unique=True)
    collection: Mapped[str] = mapped_column(String(255), default="default", index=True)
    #: folder | url | bam
    source: Mapped[str] = mapped_column(String(32))
    source_uri: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    #: sha256 of the decoded pixels (exact duplicates within a collection)
    pixel_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    #: BAM attribute -> positive/negative/unsure
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: pending | ok | error | duplicate
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    #: failure reason code (http_404, timeout, not_an_image, corrupt, too_large...)
    error_reason: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    #: normalised image under the data directory (relative path)
    image_path: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    added_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    descriptors: Mapped[list[ReferenceDescriptorRow]] = relationship(
        back_populates="reference", cascade="all, delete-orphan"
    )


class ReferenceDescriptorRow(Base):
    __tablename__ = "reference_descriptors"
    __table_args__ = (UniqueConstraint("reference_id", "model_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference_id: Mapped[int] = mapped_column(ForeignKey("references.id", ondelete="CASCADE"), index=True)
    model_name: Mapped[str] = mapped_column(String(128))
    #: model name + weights hash + whitening version; descriptors of different versions never mix
    model_version: Mapped[str] = mapped_column(String(255), index=True)
    dim: Mapped[int] = mapped_column(Integer)
    #: float32 little-endian vector (before whitening)
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    pdq_hash: Mapped[str | None] = mapped_column(String(64))
    pdq_quality: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    reference: Mapped[ReferenceRow] = relationship(back_populates="descriptors")


# ---- crawling ----------------------------------------------------------------


class SiteRow(Base):
    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    enabled: Mapped[bool] = mapped_column(default=True)
    last_run_at: Mapped[datetime | None] = mapped_column()
    last_status: Mapped[str | None] = mapped_column(String(16))
    last_error: Mapped[str | None] = mapped_column(Text)
    failure_count: Mapped[int] = mapped_column(Integer, default=0)
    next_run_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CrawlRunRow(Base):
    __tablename__ = "crawl_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()
    #: running | ok | failed | interrupted | timeout
    status: Mapped[str] = mapped_column(String(16), default="running", index=True)
    stats: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    pid: Mapped[int | None] = mapped_column(Integer)
    notified_at: Mapped[datetime | None] = mapped_column()


class PageRow(Base):
    __tablename__ = "pages"
    __table_args__ = (UniqueConstraint("site_id", "url"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(Text)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    first_seen: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow)


class WebImageRow(Base):
    """One image content (sha256) found on the web, whatever URL served it."""

    __tablename__ = "web_images"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    content_type: Mapped[str | None] = mapped_column(String(128))
    #: content-addressed file under the data directory (relative path)
    storage_path: Mapped[str | None] = mapped_column(Text)
    #: pending | matched | skipped | error
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    error: Mapped[str | None] = mapped_column(Text)
    #: embedding model version the image was last matched with
    model_version: Mapped[str | None] = mapped_column(String(255))
    #: highest reference id the image was matched against (retroactive matching)
    matched_up_to_reference_id: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    matched_at: Mapped[datetime | None] = mapped_column()


class ImageOccurrenceRow(Base):
    """Where an image was seen: page URL, image URL, alt text, first/last seen."""

    __tablename__ = "image_occurrences"
    __table_args__ = (
        UniqueConstraint("web_image_id", "page_url", "image_url"),
        Index("ix_image_occurrences_image_url", "image_url"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    web_image_id: Mapped[int] = mapped_column(ForeignKey("web_images.id", ondelete="CASCADE"), index=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id", ondelete="SET NULL"), index=True)
    crawl_run_id: Mapped[int | None] = mapped_column(ForeignKey("crawl_runs.id", ondelete="SET NULL"))
    page_url: Mapped[str] = mapped_column(Text)
    image_url: Mapped[str] = mapped_column(Text)
    alt_text: Mapped[str | None] = mapped_column(Text)
    page_title: Mapped[str | None] = mapped_column(Text)
    first_seen: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow)


class FetchedUrlRow(Base):
    """HTTP validators of an image URL, so an unchanged image is not downloaded again."""

    __tablename__ = "fetched_urls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(Text, unique=True)
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    web_image_id: Mapped[int | None] = mapped_column(ForeignKey("web_images.id", ondelete="SET NULL"))
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_fetched: Mapped[datetime] = mapped_column(default=utcnow)


# ---- alerts ------------------------------------------------------------------


class AlertRow(Base):
    __tablename__ = "alerts"
    __table_args__ = (UniqueConstraint("reference_id", "web_image_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference_id: Mapped[int] = mapped_column(ForeignKey("references.id", ondelete="CASCADE"), index=True)
    web_image_id: Mapped[int] = mapped_column(ForeignKey("web_images.id", ondelete="CASCADE"), index=True)
    score: Mapped[float] = mapped_column(Float)
    #: full | crop
    method: Mapped[str] = mapped_column(String(16))
    #: [x, y, w, h] in the found image, or null for the whole image
    bbox: Mapped[list[Any] | None] = mapped_column()
    #: new | confirmed | dismissed | allowed
    status: Mapped[str] = mapped_column(String(16), default="new", index=True)
    model_version: Mapped[str | None] = mapped_column(String(255))
    #: evidence thumbnail under the data directory (relative path)
    thumbnail_path: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    first_seen: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow)
    #: the outbox notification that announced this alert (null: not yet announced);
    #: set in the transaction that writes the notification, so each alert is announced once
    notification_id: Mapped[int | None] = mapped_column(Integer, index=True)


class AlertEventRow(Base):
    __tablename__ = "alert_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    old_status: Mapped[str | None] = mapped_column(String(16))
    new_status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str | None] = mapped_column(String(255))


class AllowRuleRow(Base):
    """A licensed use: ``reference`` may appear on ``domain`` (and its subdomains)."""

    __tablename__ = "allow_rules"
    __table_args__ = (UniqueConstraint("reference_id", "domain"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference_id: Mapped[int] = mapped_column(ForeignKey("references.id", ondelete="CASCADE"), index=True)
    domain: Mapped[str] = mapped_column(String(255))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class NotificationRow(Base):
    """Outbox of notifications: written with the alerts, sent (and retried) later."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    crawl_run_id: Mapped[int | None] = mapped_column(ForeignKey("crawl_runs.id", ondelete="SET NULL"), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: not retried before this time (exponential backoff after a failed send)
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    sent_at: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)
