"""``navee-monitor alerts ...`` through the real entry point (in-process for speed)."""

import json

import pytest

from navee_monitor.alerts import review
from navee_monitor.cli.main import main


@pytest.fixture
def cli(settings, capsys, tmp_path):
    config = tmp_path / "config.yaml"  # never the repository's config.yaml
    config.write_text(f"data_dir: {settings.data_dir}\n")

    def run(*args):
        code = main(["--config", str(config), "alerts", *args])
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


def test_list_json_shape(cli, inbox):
    code, out, _ = cli("list", "--json")
    assert code == 0
    items = json.loads(out)
    assert [a["id"] for a in items] == [inbox["a4"], inbox["a3"], inbox["a1"], inbox["a2"]]
    a1 = next(a for a in items if a["id"] == inbox["a1"])
    for key in ("id", "reference", "score", "method", "bbox", "status", "image_url", "page_url", "site",
                "first_seen", "last_seen", "occurrences"):
        assert key in a1
    assert a1["reference"] == "starry" and a1["status"] == "new" and a1["method"] == "crop"
    assert a1["score"] == pytest.approx(0.91) and len(a1["bbox"]) == 4
    assert a1["site"] == "shop" and a1["page_url"] == "https://www.shop.example.com/p/1?ref=x"
    assert a1["first_seen"] == "2026-11-20T09:00:00Z" and a1["last_seen"] == "2026-11-22T09:00:00Z"
    assert a1["occurrences"] == 2 and len(a1["occurrence_list"]) == 2
    assert a1["occurrence_list"][1]["alt_text"] == "Poster print"


def test_list_filters_and_table(cli, inbox):
    code, out, _ = cli("list", "--site", "shop", "--min-score", "0.8", "--json")
    assert [a["id"] for a in json.loads(out)] == [inbox["a1"]]
    code, out, _ = cli("list", "--status", "new,confirmed", "--domain", "example.net")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["ID", "STATUS", "SCORE", "METHOD"]
    assert len(lines) == 2 and lines[1].split()[0] == str(inbox["a4"]) and "mugs.example.net" in lines[1]
    assert cli("list", "--reference", "none")[1].strip() == "no alerts"


def test_list_bad_status_exit_2(cli, inbox):
    code, _, err = cli("list", "--status", "open")
    assert code == 2 and "unknown alert status 'open'" in err


def test_show_human_and_json(cli, inbox, settings):
    code, out, _ = cli("show", str(inbox["a1"]))
    assert code == 0
    assert "reference starry" in out and "occurrences (2)" in out and "Poster print" in out
    assert "history:" in out and "detected" in out
    code, out, _ = cli("show", str(inbox["a1"]), "--json")
    d = json.loads(out)
    assert d["evidence"]["thumbnail"].startswith(str(settings.data_dir))
    assert d["history"][0]["new_status"] == "new"
    assert d["details"] == {"inliers": 42}


def test_show_unknown_exit_2(cli, inbox):
    code, _, err = cli("show", "999")
    assert code == 2 and "no alert with id 999" in err


def test_confirm_dismiss_with_note(cli, inbox, settings):
    code, out, _ = cli("confirm", str(inbox["a1"]), str(inbox["a3"]), "--note", "reported to marketplace")
    assert code == 0 and f"alert {inbox['a1']}: new -> confirmed" in out
    code, out, _ = cli("dismiss", str(inbox["a2"]))
    r = review.get_alert(settings, inbox["a1"])
    assert r.alert.status == "confirmed" and r.alert.events[-1].note == "reported to marketplace"
    assert r.alert.events[-1].actor.startswith("cli")
    assert review.get_alert(settings, inbox["a2"]).alert.status == "dismissed"


def test_unknown_id_exit_2_changes_nothing(cli, inbox, settings):
    code, _, err = cli("confirm", str(inbox["a1"]), "4242")
    assert code == 2 and "no alert with id 4242" in err
    assert review.get_alert(settings, inbox["a1"]).alert.status == "new"


def test_bulk_needs_yes(cli, inbox, settings):
    code, out, err = cli("dismiss", "--status", "new", "--max-score", "0.6")
    assert code == 2 and "--yes" in err and str(inbox["a2"]) in out
    assert review.get_alert(settings, inbox["a2"]).alert.status == "new"
    code, out, _ = cli("dismiss", "--status", "new", "--max-score", "0.6", "--yes", "--note", "weak")
    assert code == 0 and out.strip() == f"alert {inbox['a2']}: new -> dismissed"
    assert [r.alert.id for r in review.list_alerts(settings)
            if r.alert.status == "dismissed"] == [inbox["a2"]]


def test_change_needs_ids_or_filters(cli, inbox):
    assert cli("confirm")[0] == 2
    code, _, err = cli("confirm", str(inbox["a1"]), "--site", "shop")
    assert code == 2 and "not both" in err


def test_allow_requires_domain_choice(cli, inbox, settings):
    code, _, err = cli("allow", str(inbox["a1"]))
    assert code == 2 and "--domain" in err
    code, out, _ = cli("allow", str(inbox["a1"]), "--domain", "shop.example.com", "--note", "licensed")
    assert code == 0 and "allow rule: starry on shop.example.com" in out
    assert review.get_alert(settings, inbox["a1"]).alert.status == "allowed"
    code, out, _ = cli("allow", str(inbox["a4"]), "--all-domains-of-alert")
    assert "starry on mugs.example.net" in out
    code, out, _ = cli("rules", "--json")
    assert [(r["reference"], r["domain"]) for r in json.loads(out)] == [
        ("starry", "mugs.example.net"), ("starry", "shop.example.com")]


def test_bulk_allow_by_domain_filter(cli, inbox, settings):
    code, out, _ = cli("allow", "--on-domain", "blog.other.org", "--all-domains-of-alert", "--yes")
    assert code == 0 and f"alert {inbox['a2']}: new -> allowed" in out


def test_control_characters_from_crawled_text_are_not_printed(cli, factory, settings, db_url):
    ref = factory.reference("k", 3)
    img, _ = factory.found_image(3, 0)
    factory.occurrence(img, "https://evil.example/\x1b]0;pwned\x07page", "https://evil.example/i.jpg",
                       alt_text="\x1b[2J\x1b[31mred")
    aid = factory.alert(ref, img, 0.9)
    code, out, _ = cli("show", str(aid))
    assert "\x1b" not in out and "\x07" not in out and "red" in out


def test_unmigrated_database_is_explained(tmp_path, capsys):
    (tmp_path / "c.yaml").write_text("{}\n")
    code = main(["--config", str(tmp_path / "c.yaml"), "--data-dir", str(tmp_path), "alerts", "list"])
    assert code == 1 and "navee-monitor db upgrade" in capsys.readouterr().err
