"""Markdown, details JSON and the worst-misses page (escaped, self-contained)."""

from __future__ import annotations

import json

from navee_monitor.evaluation.dataset import EvaluationSet, ManifestImage, QuerySpec
from navee_monitor.evaluation.report import markdown_summary, write_details
from navee_monitor.evaluation.runner import SYSTEM, EvaluationRun, QueryOutcome, summarize
from navee_monitor.evaluation.transforms import build_suite
from tests.helpers.shared import art_images, photo_images

EVIL = '<script>alert("x")</script>'


def _run() -> EvaluationRun:
    a, b = art_images(2)
    refs = [ManifestImage(EVIL, a, "art", "oil_painting"), ManifestImage("plain", b, "art", "comics")]
    queries = [
        QuerySpec("q1", a, EVIL, "blur", "mild", 11, "oil_painting"),
        QuerySpec("q2", b, "plain", "meme", "hard", 12, "comics"),
        QuerySpec("d1", photo_images(1)[0], None, "grayscale", "distractor", 13),
    ]
    eval_set = EvaluationSet(refs, queries, build_suite(), seed=0)
    outcomes = {
        "q1": QueryOutcome("q1", {SYSTEM: [("plain", 0.8, True), (EVIL, 0.3, False)], "pdq": [(EVIL, 0.9, True)]}),
        "q2": QueryOutcome("q2", {SYSTEM: [("plain", 0.95, True)], "pdq": [("plain", 0.5, False)]}),
        "d1": QueryOutcome("d1", {SYSTEM: [(EVIL, 0.6, True)], "pdq": [(EVIL, 0.4, False)]}),
    }
    from navee_monitor.evaluation.metrics import Prediction

    predictions = {
        system: [Prediction(o.qid, r, s, al) for o in outcomes.values() for r, s, al in o.results[system]]
        for system in (SYSTEM, "pdq")
    }
    return EvaluationRun(eval_set, outcomes, predictions, errors=[], seconds={SYSTEM: 2.0, "pdq": 0.1},
                         matched_images=3, ingest_seconds=1.0, total_seconds=4.0,
                         pipeline={"threshold": 0.5, "index": "lsh", "detector": False, "model_version": "m1"})


def test_summary_markdown_details_and_html(tmp_path):
    run = _run()
    summary = summarize(run)
    assert summary["recall@1"] == 0.5 and summary["images_per_s"] == 1.5
    assert summary["alert_precision"] == 1 / 3 and summary["distractors_alerted"] == 1
    assert summary["baselines"]["pdq"]["recall@1"] == 1.0 and summary["baselines"]["pdq"]["images_per_s"] == 30.0
    md = markdown_summary(summary)
    assert "| uAP |" in md and "| navee | pdq |" in md.replace("metric | ", "")
    assert "| meme | hard | 1 |" in md
    written = write_details(run, summary, tmp_path / "out")
    assert sorted(p.name for p in written) == ["details.json", "summary.md", "worst_misses.html"]
    details = json.loads((tmp_path / "out" / "details.json").read_text())
    q1 = next(q for q in details["queries"] if q["query"] == "q1")
    assert q1["true_rank"] == {SYSTEM: 1, "pdq": 0} and q1["truth"] == EVIL
    page = (tmp_path / "out" / "worst_misses.html").read_text()
    assert "<script" not in page and "&lt;script&gt;" in page
    assert "Worst misses (1)" in page and "Worst false alerts (2)" in page
    assert page.count("data:image/jpeg;base64,") >= 5  # query, expected and retrieved thumbnails inline
