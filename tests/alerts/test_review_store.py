"""Queries and status changes of alert review, on a real SQLite database with real image files."""

from datetime import timedelta

import pytest

from navee_monitor.alerts import review
from navee_monitor.errors import NotFoundError, UsageError
from navee_monitor.store import db
from navee_monitor.store.alert_review import AlertFilter, normalize_domain
from navee_monitor.store.alerts import AlertDraft, record_alerts
from tests.alerts.factories import T0


def ids_of(alerts):
    return [r.alert.id for r in alerts]


def test_list_all_most_recent_first_with_occurrences(settings, inbox):
    alerts = review.list_alerts(settings)
    assert ids_of(alerts) == [inbox["a4"], inbox["a3"], inbox["a1"], inbox["a2"]]
    a1 = next(r for r in alerts if r.alert.id == inbox["a1"])
    assert a1.alert.reference_key == "starry"
    # most recent occurrence first, with its site name
    assert [o.page_url for o in a1.alert.occurrences] == ["https://www.shop.example.com/p/1?ref=x",
                                                          "https://shop.example.com/p/1"]
    assert review.site_name(a1) == "shop"
    assert a1.alert.first_seen.tzinfo is not None


@pytest.mark.parametrize("flt, expected", [
    (AlertFilter(statuses=("new",)), ["a4", "a3", "a1", "a2"]),
    (AlertFilter(site="blog"), ["a2"]),
    (AlertFilter(site="shop"), ["a3", "a1"]),
    (AlertFilter(domain="example.com"), ["a3", "a1"]),          # subdomains of example.com, not example.net
    (AlertFilter(domain="https://MUGS.example.net/"), ["a4"]),
    (AlertFilter(reference="starry"), ["a4", "a1"]),
    (AlertFilter(min_score=0.7), ["a3", "a1"]),
    (AlertFilter(max_score=0.6), ["a2"]),
    (AlertFilter(since=T0 + timedelta(days=3)), ["a4", "a3"]),
    (AlertFilter(reference="starry", min_score=0.7), ["a1"]),
    (AlertFilter(limit=2), ["a4", "a3"]),
    (AlertFilter(reference="nope"), []),
])
def test_filters(settings, inbox, flt, expected):
    assert ids_of(review.list_alerts(settings, flt)) == [inbox[k] for k in expected]
    assert sorted(review.select_ids(settings, flt)) == sorted(inbox[k] for k in expected)


def test_status_changes_are_kept_in_history(settings, inbox):
    a1 = inbox["a1"]
    result = review.apply_action(settings, "confirm", [a1], note="seller contacted", actor="cli:ana")
    assert [(c.old_status, c.new_status) for c in result.changed] == [("new", "confirmed")]
    review.apply_action(settings, "reopen", [a1], actor="web")
    review.apply_action(settings, "dismiss", [a1], note="  ", actor="web")  # blank note = no note
    r = review.get_alert(settings, a1)
    assert r.alert.status == "dismissed"
    assert [(e.old_status, e.new_status, e.note, e.actor) for e in r.alert.events] == [
        (None, "new", "detected", "matcher"),
        ("new", "confirmed", "seller contacted", "cli:ana"),
        ("confirmed", "new", None, "web"),
        ("new", "dismissed", None, "web"),
    ]
    assert all(e.at.tzinfo is not None for e in r.alert.events)
    assert r.alert.events[1].at >= r.alert.events[0].at


def test_same_status_records_nothing_unless_a_note(settings, inbox):
    review.apply_action(settings, "confirm", [inbox["a2"]])
    assert not review.apply_action(settings, "confirm", [inbox["a2"]]).changed
    assert len(review.get_alert(settings, inbox["a2"]).alert.events) == 2
    review.apply_action(settings, "confirm", [inbox["a2"]], note="still online")
    events = review.get_alert(settings, inbox["a2"]).alert.events
    assert [(e.new_status, e.note) for e in events[-1:]] == [("confirmed", "still online")]


def test_unknown_id_changes_nothing(settings, inbox):
    with pytest.raises(NotFoundError, match="no alert with id 999"):
        review.apply_action(settings, "confirm", [inbox["a1"], 999])
    assert review.get_alert(settings, inbox["a1"]).alert.status == "new"  # all or none
    with pytest.raises(NotFoundError) as exc:
        review.get_alert(settings, 12345)
    assert exc.value.exit_code == 2


def test_allow_adds_rule_and_covers_other_new_alerts_of_that_domain(settings, inbox, factory):
    # a second copy of "starry" on the same shop, not yet reviewed
    img, bb = factory.found_image(0, 4)
    factory.occurrence(img, "https://shop.example.com/p/9", "https://cdn.example.com/9.jpg", inbox["shop"])
    other = factory.alert(inbox["r1"], img, 0.8, bb)
    result = review.apply_action(settings, "allow", [inbox["a1"]], domains=["Example.com"], note="licence 2026-14",
                                 actor="cli:ana")
    assert [(r.reference_key, r.domain) for r in result.rules] == [("starry", "example.com")]
    changed = {c.alert_id: c.new_status for c in result.changed}
    assert changed == {inbox["a1"]: "allowed", other: "allowed"}
    # a4 is starry on mugs.example.net: not covered
    assert review.get_alert(settings, inbox["a4"]).alert.status == "new"
    events = review.get_alert(settings, other).alert.events
    assert events[-1].note == "allow rule: example.com"
    assert [(r.reference_key, r.domain, r.note) for r in review.allow_rules(settings)] == [
        ("starry", "example.com", "licence 2026-14")]
    # allowing again is idempotent
    review.apply_action(settings, "allow", [inbox["a1"]], domains=["example.com"])
    assert len(review.allow_rules(settings)) == 1


def test_allow_rule_stops_new_alerts_at_creation(settings, inbox, factory):
    """The rule written here is the one alert creation (store/alerts.py) honours."""
    review.apply_action(settings, "allow", [inbox["a4"]], domains=None)  # all domains of the alert
    assert [r.domain for r in review.allow_rules(settings)] == ["mugs.example.net"]
    img, bb = factory.found_image(0, 5)
    factory.occurrence(img, "https://cups.mugs.example.net/x", "https://mugs.example.net/x.jpg")
    img2, _ = factory.found_image(0, 1)
    factory.occurrence(img2, "https://elsewhere.example.org/x", "https://elsewhere.example.org/x.jpg")
    draft = AlertDraft(reference_key="starry", score=0.9, method="crop", bbox=bb, details={})
    with db.session_scope(settings.database_url) as s:
        assert record_alerts(s, img, [draft], model_version="m") == []
        assert len(record_alerts(s, img2, [draft], model_version="m")) == 1


def test_allow_without_domain_uses_page_domains(settings, inbox):
    assert review.page_domains(settings, inbox["a1"]) == ["shop.example.com", "www.shop.example.com"]


@pytest.mark.parametrize("text, expected", [
    ("example.com", "example.com"), ("https://Shop.Example.com:8443/x?y", "shop.example.com"),
    ("shop.example.com.", "shop.example.com"), ("EXAMPLE.com/path", "example.com"),
])
def test_normalize_domain(text, expected):
    assert normalize_domain(text) == expected


@pytest.mark.parametrize("bad", ["", "   ", "https://", "two words"])
def test_normalize_domain_rejects(bad):
    with pytest.raises(UsageError):
        normalize_domain(bad)


def test_parse_since_and_statuses():
    now = T0
    assert review.parse_since("7d", now=now) == T0 - timedelta(days=7)
    assert review.iso(review.parse_since("2026-11-20")) == "2026-11-20T00:00:00Z"
    assert review.iso(review.parse_since("2026-11-20T10:00:00+01:00")) == "2026-11-20T09:00:00Z"
    with pytest.raises(UsageError, match="not a date"):
        review.parse_since("last tuesday")
    assert review.parse_statuses(["new,confirmed", "allowed", "new"]) == ("new", "confirmed", "allowed")
    assert review.parse_statuses(["all"]) == ()
    with pytest.raises(UsageError, match="unknown alert status 'open'"):
        review.parse_statuses(["open"])


def test_counts(settings, inbox):
    review.apply_action(settings, "dismiss", [inbox["a2"]])
    assert review.counts(settings) == {"new": 3, "confirmed": 0, "dismissed": 1, "allowed": 0}
