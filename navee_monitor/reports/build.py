"""What a report contains: the selected alerts, grouped by site and page domain, with counts."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from navee_monitor.alerts import review
from navee_monitor.settings import Settings
from navee_monitor.store.alert_review import STATUSES, AlertFilter
from navee_monitor.store.records import ReviewedAlert

NO_SITE = "(no site)"


@dataclass(frozen=True)
class AlertGroup:
    site: str
    domain: str
    alerts: list[ReviewedAlert]


@dataclass(frozen=True)
class ReportData:
    generated_at: datetime
    filter: AlertFilter
    alerts: list[ReviewedAlert]
    groups: list[AlertGroup] = field(default_factory=list)
    #: alerts of the report by status (every status listed, zeros included)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def sites(self) -> list[str]:
        return sorted({g.site for g in self.groups if g.site != NO_SITE})

    @property
    def domains(self) -> list[str]:
        return sorted({g.domain for g in self.groups if g.domain})

    @property
    def references(self) -> list[str]:
        return sorted({r.alert.reference_key or "" for r in self.alerts})

    def describe_filter(self) -> str:
        f = self.filter
        parts = []
        if f.statuses:
            parts.append("status " + ", ".join(f.statuses))
        if f.since:
            parts.append("first seen since " + review.iso(f.since))
        for label, value in (("site", f.site), ("domain", f.domain), ("reference", f.reference)):
            if value:
                parts.append(f"{label} {value}")
        if f.min_score is not None:
            parts.append(f"score >= {f.min_score:g}")
        if f.max_score is not None:
            parts.append(f"score <= {f.max_score:g}")
        return "; ".join(parts) or "all alerts"


def group_alerts(alerts: list[ReviewedAlert]) -> list[AlertGroup]:
    """Group by (site, domain) of each alert's most recent occurrence; best score first inside."""
    groups: dict[tuple[str, str], list[ReviewedAlert]] = {}
    for r in alerts:
        key = (review.site_name(r) or NO_SITE, review.page_domain(r))
        groups.setdefault(key, []).append(r)
    out = []
    for (site, domain), items in sorted(groups.items(), key=lambda kv: (kv[0][0] == NO_SITE, kv[0])):
        items.sort(key=lambda r: (-r.alert.score, r.alert.id))
        out.append(AlertGroup(site=site, domain=domain, alerts=items))
    return out


def build_report(settings: Settings, flt: AlertFilter = AlertFilter(), now: datetime | None = None) -> ReportData:
    alerts = review.list_alerts(settings, flt, with_events=True)
    counts = Counter(r.alert.status for r in alerts)
    return ReportData(
        generated_at=now or datetime.now(UTC),
        filter=flt,
        alerts=alerts,
        groups=group_alerts(alerts),
        counts={s: counts.get(s, 0) for s in (*STATUSES, *sorted(set(counts) - set(STATUSES)))},
    )
