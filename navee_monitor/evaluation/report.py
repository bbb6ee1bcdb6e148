"""Outputs of ``evaluate``: a markdown summary, per-query details, the worst misses as HTML.

The HTML page is self-contained (thumbnails inlined as data URIs) and every
text in it is escaped: transform names and keys come from files on disk.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import numpy as np
from PIL import Image

from navee_monitor.evaluation.dataset import load_rgb
from navee_monitor.evaluation.runner import SYSTEM, EvaluationRun

THUMB_SIDE = 220
WORST_MISSES = 40
WORST_FALSE_ALERTS = 20


def _fmt(value, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def markdown_summary(summary: dict) -> str:
    systems = {SYSTEM: summary, **summary.get("baselines", {})}
    names = list(systems)
    lines = []
    s = summary["set"]
    lines.append(
        f"Evaluation set: {s['references']} references, {s['positive_queries']} positive queries "
        f"({s['transforms']} transforms), {s['distractor_queries']} distractors, seed {s['seed']}."
    )
    p = summary.get("pipeline", {})
    lines.append(
        f"Pipeline: model `{p.get('model_version', '?')}`, index {p.get('index', '?')}, "
        f"detector {'on' if p.get('detector') else 'off'}, threshold {p.get('threshold', '?')}."
    )
    lines.append("")
    lines.append("| metric | " + " | ".join(names) + " |")
    lines.append("|---|" + "---:|" * len(names))
    rows = [
        ("uAP", "uAP"), ("R@P90", "R@P90"), ("recall@1", "recall@1"), ("recall@10", "recall@10"),
        ("alert precision", "alert_precision"), ("alert recall", "alert_recall"),
        ("false alerts", "false_alerts"), ("distractors alerted", "distractors_alerted"),
        ("score at P90", "threshold_at_p90"), ("images/s", "images_per_s"), ("errors", "errors"),
    ]
    for title, key in rows:
        digits = 1 if key == "images_per_s" else 3
        lines.append(f"| {title} | " + " | ".join(_fmt(systems[n].get(key), digits) for n in names) + " |")
    label = [systems[n].get("label_precision") for n in names]
    if any(label):
        k = next(lp["k"] for lp in label if lp)
        lines.append(f"| same-label P@{k} | " + " | ".join(_fmt(lp and lp["precision"]) for lp in label) + " |")
    lines.append("")
    lines.append("| group | queries | " + " | ".join(f"{n} uAP | {n} R@1" for n in names) + " |")
    lines.append("|---|---:|" + "---:|---:|" * len(names))
    for group, g in summary["per_group"].items():
        cells = []
        for n in names:
            sg = systems[n]["per_group"].get(group, {})
            cells += [_fmt(sg.get("uAP")), _fmt(sg.get("recall@1"))]
        lines.append(f"| {group} | {g['queries']} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("| transform | group | queries | " + " | ".join(f"{n} R@1" for n in names) + f" | {SYSTEM} alert recall |")
    lines.append("|---|---|---:|" + "---:|" * len(names) + "---:|")
    for name, t in sorted(summary["per_transform"].items(), key=lambda kv: (kv[1]["group"], kv[0])):
        cells = [_fmt(systems[n]["per_transform"].get(name, {}).get("recall@1")) for n in names]
        lines.append(f"| {name} | {t['group']} | {t['queries']} | " + " | ".join(cells) + f" | {_fmt(t.get('alert_recall'))} |")
    return "\n".join(lines) + "\n"


def query_details(run: EvaluationRun, top: int = 5) -> list[dict]:
    """One record per query: ground truth, and each system's top results."""
    out = []
    for q in run.eval_set.queries:
        o = run.outcomes[q.qid]
        rec = {
            "query": q.qid, "source": str(q.source), "transform": q.transform, "group": q.group,
            "truth": q.truth, "seed": q.seed, "error": o.error, "results": {},
        }
        for system, results in o.results.items():
            rec["results"][system] = [
                {"reference": ref, "score": round(score, 4), "alert": alert} for ref, score, alert in results[:top]
            ]
            ranks = [i for i, (ref, _, _) in enumerate(results) if ref == q.truth]
            rec.setdefault("true_rank", {})[system] = ranks[0] if ranks else None
        out.append(rec)
    return out


def _miss_severity(rec: dict) -> tuple:
    """Misses first when the truth was not retrieved at all, then by the wrong top score."""
    results = rec["results"].get(SYSTEM, [])
    rank = rec.get("true_rank", {}).get(SYSTEM)
    top_score = results[0]["score"] if results else 0.0
    true_score = next((r["score"] for r in results if r["reference"] == rec["truth"]), 0.0)
    return (rank is not None, true_score - top_score)


def worst_misses(details: list[dict], n: int = WORST_MISSES) -> list[dict]:
    misses = [r for r in details if r["truth"] and r.get("true_rank", {}).get(SYSTEM) != 0]
    return sorted(misses, key=_miss_severity)[:n]


def worst_false_alerts(details: list[dict], n: int = WORST_FALSE_ALERTS) -> list[dict]:
    wrong = [
        r for r in details
        if any(res["alert"] and res["reference"] != r["truth"] for res in r["results"].get(SYSTEM, []))
    ]
    return sorted(wrong, key=lambda r: -r["results"][SYSTEM][0]["score"])[:n]


def _data_uri(rgb: np.ndarray) -> str:
    img = Image.fromarray(rgb)
    img.thumbnail((THUMB_SIDE, THUMB_SIDE), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _figure(uri: str | None, caption: str) -> str:
    img = f'<img src="{html.escape(uri, quote=True)}" alt="">' if uri else '<div class="none">none</div>'
    return f"<figure>{img}<figcaption>{html.escape(caption)}</figcaption></figure>"


def worst_misses_html(run: EvaluationRun, details: list[dict]) -> str:
    refs = {r.key: r.path for r in run.eval_set.references}
    specs = {q.qid: q for q in run.eval_set.queries}

    def ref_uri(key: str | None) -> str | None:
        return _data_uri(load_rgb(refs[key], THUMB_SIDE * 2)) if key in refs else None

    def rows(records: list[dict]) -> str:
        parts = []
        for rec in records:
            try:
                query_uri = _data_uri(run.eval_set.render(specs[rec["query"]]))
            except Exception as exc:  # noqa: BLE001 - the page still shows the rest
                query_uri, rec = None, {**rec, "error": str(exc)}
            results = rec["results"].get(SYSTEM, [])
            top = results[0] if results else None
            truth_score = next((r["score"] for r in results if r["reference"] == rec["truth"]), None)
            cells = [_figure(query_uri, f"query {rec['query']} · {rec['transform']} ({rec['group']})")]
            if rec["truth"] is None:
                cells.append(_figure(None, "distractor: should match nothing"))
            else:
                cells.append(_figure(ref_uri(rec["truth"]), f"expected {rec['truth']} · score {_fmt(truth_score)}"))
            cells.append(_figure(ref_uri(top["reference"]) if top else None,
                                 f"got {top['reference']} · score {_fmt(top['score'])}" if top else "got nothing"))
            others = ", ".join(f"{r['reference']} {r['score']:.3f}" for r in results[1:5])
            note = f"<p>{html.escape(others)}</p>" if others else ""
            if rec.get("error"):
                note += f'<p class="err">{html.escape(rec["error"])}</p>'
            parts.append(f'<div class="row">{"".join(cells)}<div class="note">{note}</div></div>')
        return "\n".join(parts) or "<p>none</p>"

    misses = worst_misses(details)
    false_alerts = worst_false_alerts(details)
    style = (
        "body{font-family:sans-serif;margin:1em}.row{display:flex;gap:12px;align-items:flex-start;"
        "border-bottom:1px solid #ddd;padding:8px 0}figure{margin:0;width:230px}img{max-width:220px;"
        "max-height:220px}figcaption{font-size:12px}.none{width:220px;height:60px;background:#eee}"
        ".note{font-size:12px;color:#555}.err{color:#b00}"
    )
    return (
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>navee-monitor evaluation: worst misses</title>"
        f"<style>{style}</style></head><body>"
        f"<h1>Worst misses ({len(misses)})</h1><p>Copies whose reference was not ranked first: "
        "not retrieved at all first, then by how far the wrong answer outscored it.</p>"
        f"{rows(misses)}"
        f"<h1>Worst false alerts ({len(false_alerts)})</h1>{rows(false_alerts)}"
        "</body></html>\n"
    )


def write_details(run: EvaluationRun, summary: dict, directory: Path) -> list[Path]:
    """``details.json`` (summary + per-query results), ``summary.md`` and ``worst_misses.html``."""
    directory.mkdir(parents=True, exist_ok=True)
    details = query_details(run)
    written = []
    path = directory / "details.json"
    path.write_text(json.dumps({"summary": summary, "queries": details}, indent=1), encoding="utf-8")
    written.append(path)
    path = directory / "summary.md"
    path.write_text(markdown_summary(summary), encoding="utf-8")
    written.append(path)
    path = directory / "worst_misses.html"
    path.write_text(worst_misses_html(run, details), encoding="utf-8")
    written.append(path)
    return written
