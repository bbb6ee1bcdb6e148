"""Reading the BAM schema: filters on automatic and crowd labels, labels kept, keys = mid."""

from __future__ import annotations

import sqlite3

import pytest

from navee_monitor.errors import UsageError
from navee_monitor.references.bam import BAM_ATTRIBUTES, BamSource, parse_where
from tests.references.conftest import create_bam


@pytest.fixture
def bam(tmp_path):
    return create_bam(tmp_path / "bam.sqlite", [
        {"mid": 101, "src": "http://h/101.jpg", "labels": {"media_oilpaint": "positive", "content_people": "positive"}},
        {"mid": 102, "src": "http://h/102.jpg", "labels": {"media_oilpaint": "positive"},
         "crowd": {"media_oilpaint": "negative"}},
        {"mid": 103, "src": "http://h/103.jpg", "labels": {"media_watercolor": "positive", "content_people": "unsure"},
         "crowd": {"media_watercolor": "positive", "content_people": "positive"}},
        {"mid": 104, "src": "http://h/104.jpg"},
        {"mid": 105, "src": "", "labels": {"media_oilpaint": "positive"}},  # no URL: skipped
    ])


def keys(source):
    return [i.key for i in source.items()]


def test_all_modules_keyed_by_mid_with_the_20_labels(bam):
    items = list(BamSource(bam).items())
    assert [i.key for i in items] == ["101", "102", "103", "104"]
    first = items[0]
    assert first.source == "bam" and first.uri == "http://h/101.jpg"
    assert set(first.labels) == set(BAM_ATTRIBUTES) and len(first.labels) == 20
    assert first.labels["media_oilpaint"] == "positive" and first.labels["media_comic"] == "negative"


def test_where_filters_are_anded(bam):
    assert keys(BamSource(bam, parse_where(["media_oilpaint=positive"]))) == ["101", "102"]
    assert keys(BamSource(bam, parse_where(["media_oilpaint=positive", "content_people=positive"]))) == ["101"]
    assert keys(BamSource(bam, parse_where(["content_people=unsure"]))) == ["103"]


def test_crowd_filters_and_labels(bam):
    assert keys(BamSource(bam, crowd=True)) == ["102", "103"]
    assert keys(BamSource(bam, parse_where(["media_oilpaint=positive"]), crowd=True)) == []
    src = BamSource(bam, parse_where(["content_people=positive"]), crowd=True)
    [item] = list(src.items())
    assert item.key == "103"
    # crowd answers override the automatic labels; the other attributes keep theirs
    assert item.labels["content_people"] == "positive" and item.labels["media_comic"] == "negative"
    assert len(item.labels) == 20


def test_limit_and_count(bam):
    assert keys(BamSource(bam, limit=2)) == ["101", "102"]
    assert BamSource(bam, parse_where(["media_oilpaint=positive"])).count() == 2


@pytest.mark.parametrize("expr, needle", [
    ("media_oilpaint", "ATTRIBUTE=LABEL"),
    ("media_oil=positive", "unknown BAM attribute"),
    ("media_oilpaint=yes", "label must be one of"),
    ("media_oilpaint=positive; DROP TABLE modules", "label must be one of"),
])
def test_bad_where_is_a_usage_error(expr, needle):
    with pytest.raises(UsageError, match=needle):
        parse_where([expr])


def test_not_a_bam_database(tmp_path):
    other = tmp_path / "other.sqlite"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    with pytest.raises(UsageError, match="not a BAM database"):
        list(BamSource(other).items())
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(UsageError, match="not an SQLite database"):
        list(BamSource(junk).items())
    with pytest.raises(UsageError, match="no such BAM database"):
        list(BamSource(tmp_path / "missing.sqlite").items())
