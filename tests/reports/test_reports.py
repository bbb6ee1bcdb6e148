"""HTML, CSV and JSON reports; hostile crawled text stays text."""

import csv
import io
import json
from html.parser import HTMLParser

import pytest

from navee_monitor.cli.main import main as cli_main
from navee_monitor.reports import render_report
from navee_monitor.store.alert_review import AlertFilter
from tests.alerts.factories import T0

SCRIPT = "<script>alert(1)</script>"
BREAKOUT = '"><img src=x onerror=alert(2)>'


class Doc(HTMLParser):
    """Every element with its attributes, and the text, as a browser's parser sees them."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    def handle_startendtag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)

    def tags(self, name):
        return [a for t, a in self.elements if t == name]


@pytest.fixture
def hostile(factory, inbox):
    ref = factory.reference("hostile-ref", 4)
    img, bb = factory.found_image(4, 1)
    site = factory.site("evil")
    factory.occurrence(img, f"https://evil.example/page?q={BREAKOUT}", f"https://evil.example/{SCRIPT}.jpg", site,
                       alt_text=f"{SCRIPT} and {BREAKOUT}", page_title=f"<b>title</b>{SCRIPT}")
    factory.occurrence(img, "javascript:alert(3)//", "https://evil.example/x.jpg", site, alt_text="=HYPERLINK(1)")
    return factory.alert(ref, img, 0.88, bb)


def test_html_report_escapes_hostile_input(settings, hostile):
    html = render_report(settings, "html")
    doc = Doc(html)
    # no executable markup came in
    assert doc.tags("script") == []
    for tag, attrs in doc.elements:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
    # images are embedded, nothing is loaded from anywhere
    imgs = doc.tags("img")
    assert imgs and all(a["src"].startswith("data:image/jpeg;base64,") for a in imgs)
    assert doc.tags("link") == [] and doc.tags("iframe") == [] and doc.tags("object") == []
    # links are http(s) only: the javascript: page URL is shown, not linked
    hrefs = [a["href"] for a in doc.tags("a") if not a["href"].startswith("#")]
    assert hrefs and all(h.startswith(("https://", "http://")) for h in hrefs)
    text = "".join(doc.text)
    assert SCRIPT in text and BREAKOUT in text and "javascript:alert(3)//" in text
    assert "<b>title</b>" in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    csp = [a for a in doc.tags("meta") if a.get("http-equiv") == "Content-Security-Policy"]
    assert csp and "default-src 'none'" in csp[0]["content"]


def test_html_report_groups_and_summary(settings, inbox):
    html = render_report(settings, "html")
    doc = Doc(html)
    text = " ".join(t.strip() for t in doc.text if t.strip())
    # summary at the top: 4 alerts, 4 new, 2 sites + (no site)
    assert "4 alerts" in text and "4 new" in text and "2 sites" in text and "4 domains" in text
    headings = [h for h in doc.text if h.strip()]
    order = [text.index(s) for s in ("blog — blog.other.org", "shop — shop.example.com",
                                     "shop — www.shop.example.com", "(no site) — mugs.example.net")]
    assert order == sorted(order), headings
    # a side-by-side pair per alert, both images present (a3 has no thumbnail: drawn from the stored image)
    articles = [a for t, a in doc.elements if t == "article"]
    assert len(articles) == 4
    assert len(doc.tags("img")) == 8
    assert "page not available" not in text and "not available" not in text
    assert "Poster — Shop" in text and "2026-11-22 09:00 UTC" in text


def test_html_matched_region_is_drawn(settings, inbox):
    """The fallback (no evidence thumbnail) draws the bbox in red on the found image."""
    import base64

    import numpy as np
    from PIL import Image

    html = render_report(settings, "html", AlertFilter(ids=(inbox["a3"],)))
    src = Doc(html).tags("img")[0]["src"]
    im = np.asarray(Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).convert("RGB")).astype(int)
    red = (im[..., 0] > 200) & (im[..., 1] < 80) & (im[..., 2] < 80)
    assert red.sum() > 200


def test_missing_image_file_does_not_break_the_report(settings, inbox):
    import shutil

    shutil.rmtree(settings.data_dir / "references")
    html = render_report(settings, "html")
    assert html.count("reference image not available") == 4


def test_empty_report(settings, db_url):
    html = render_report(settings, "html")
    assert "No alert matches" in html


def test_csv_report(settings, inbox, hostile):
    text = render_report(settings, "csv", AlertFilter(statuses=("new",)))
    rows = list(csv.DictReader(io.StringIO(text)))
    # one row per occurrence: a1 has two
    assert len([r for r in rows if r["alert_id"] == str(inbox["a1"])]) == 2
    assert {r["site"] for r in rows} == {"shop", "blog", "", "evil"}
    evil = [r for r in rows if r["alert_id"] == str(hostile)]
    assert evil[0]["alt_text"] == f"{SCRIPT} and {BREAKOUT}"
    assert evil[1]["alt_text"] == "'=HYPERLINK(1)"  # not a formula in a spreadsheet


def test_json_report(settings, inbox):
    doc = json.loads(render_report(settings, "json", AlertFilter(since=T0.replace(day=23))))
    assert [a["id"] for a in doc["alerts"]] == [inbox["a4"], inbox["a3"]]
    assert doc["counts"]["new"] == 2 and "first seen since 2026-11-23" in doc["selection"]
    assert doc["alerts"][0]["history"][0]["note"] == "detected"


def test_report_cli(settings, inbox, tmp_path, capsys):
    out = tmp_path / "r" / "report.html"
    config = tmp_path / "config.yaml"  # never the repository's config.yaml
    config.write_text("{}\n")

    def main(argv):
        return cli_main(["--config", str(config), *argv])

    assert main(["--data-dir", str(settings.data_dir), "report", "--format", "html", "--out", str(out),
                 "--status", "new", "--since", "2026-11-21"]) == 0
    html = out.read_text()
    assert html.startswith("<!DOCTYPE html>") and len(Doc(html).tags("article")) == 3
    assert f"report written to {out}" in capsys.readouterr().out
    # default: under data_dir/reports
    assert main(["--data-dir", str(settings.data_dir), "report"]) == 0
    capsys.readouterr()
    written = list((settings.data_dir / "reports").glob("navee-report-*.html"))
    assert len(written) == 1
    assert main(["--data-dir", str(settings.data_dir), "report", "--format", "json", "--site", "blog"]) == 0
    assert [a["reference"] for a in json.loads(capsys.readouterr().out)["alerts"]] == ["water-lilies"]
    assert main(["--data-dir", str(settings.data_dir), "report", "--since", "yesterday-ish"]) == 2
