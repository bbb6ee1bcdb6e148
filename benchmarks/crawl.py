"""Crawler throughput: pages/min and images/min on a generated local site.

    python benchmarks/crawl.py                  # 2,000 pages, table on stdout
    python benchmarks/crawl.py --pages 500 --json

The site is generated into a temporary folder and served by a threading HTTP
server on 127.0.0.1 (in a separate process, so it does not share the
crawler's CPU time slice): an index page and N pages linked as a binary tree
(page i links to 2i+1 and 2i+2, and back to the index), each page showing
``--images-per-page`` real artworks from ``../shared/data`` drawn from a pool
of ``--pool`` distinct images (symbolic links, not copies), so most
occurrences are of images already seen, as on a real gallery site.

Politeness is off (no delay, no AutoThrottle, concurrency 16); robots.txt is
still read. Two crawls run: the first downloads, probes, stores and records
everything; the second is the incremental re-crawl (every image answers 304).
Each crawl is a real ``navee_crawler.runner.crawl_site`` run in a fresh
process, against a fresh SQLite database in a temporary data directory.
Durations are the crawl's own (Scrapy start to stop), process start excluded.
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import multiprocessing
import os
import platform
import sys
import tempfile
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SHARED = Path(os.environ.get("NAVEE_SHARED_DIR", REPO.parent / "shared"))


def generate_site(root: Path, pages: int, per_page: int, pool: int) -> int:
    rows = list(csv.DictReader(open(SHARED / "data" / "MANIFEST.csv", newline="")))
    files = [SHARED / "data" / r["file"] for r in rows if r["kind"] == "art"][:pool]
    if not files:
        raise SystemExit(f"no images under {SHARED / 'data'} (set NAVEE_SHARED_DIR)")
    (root / "img").mkdir(parents=True)
    for i, f in enumerate(files):
        os.symlink(f, root / "img" / f"{i:05d}.jpg")
    (root / "robots.txt").write_text("User-agent: *\nDisallow: /nowhere/\n")
    (root / "p").mkdir()

    def page(i: int) -> str:
        imgs = "".join(
            f'<img src="/img/{(i * per_page + k) % len(files):05d}.jpg" alt="work {i}-{k}">' for k in range(per_page)
        )
        links = "".join(f'<a href="/p/{j}.html">page {j}</a>' for j in (2 * i + 1, 2 * i + 2) if j < pages)
        return f"<html><head><title>Page {i}</title></head><body>{imgs}{links}<a href='/'>home</a></body></html>"

    for i in range(pages):
        (root / "p" / f"{i}.html").write_text(page(i))
    (root / "index.html").write_text("<html><body><a href='/p/0.html'>start</a></body></html>")
    return len(files)


class _QuietHandler(SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass


def _serve(root: str, port_queue) -> None:
    handler = functools.partial(_QuietHandler, directory=root)
    ThreadingHTTPServer.request_queue_size = 256
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    port_queue.put(httpd.server_address[1])
    httpd.serve_forever()


def run(pages: int, per_page: int, pool: int) -> dict:
    from navee_crawler.runner import crawl_site_in_subprocess
    from navee_monitor.settings import load_settings
    from navee_monitor.store import crawl as store
    from navee_monitor.store import db

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "site"
        distinct = generate_site(root, pages, per_page, pool)
        ctx = multiprocessing.get_context("spawn")
        port_queue = ctx.Queue()
        server = ctx.Process(target=_serve, args=(str(root), port_queue), daemon=True)
        server.start()
        try:
            port = port_queue.get(timeout=30)
            settings = load_settings(None, environ={}, use_default_file=False, overrides={
                "data_dir": str(Path(tmp) / "data"),
                "logging": {"level": "warning"},
                "crawler": {"delay_s": 0, "autothrottle": False, "concurrency": 16, "timeout_s": 30},
                "sites": [{"name": "bench", "start_urls": [f"http://127.0.0.1:{port}/"],
                           "max_depth": 40, "max_pages": pages + 1}],
            })
            settings.data_dir.mkdir(parents=True)
            db.upgrade(settings.database_url)
            results = {}
            for label in ("first crawl", "re-crawl (304s)"):
                wall = time.perf_counter()
                run_id = crawl_site_in_subprocess(settings, "bench", timeout=3600)
                wall = time.perf_counter() - wall
                r = store.get_run(settings.database_url, run_id)
                s = r.stats
                minutes = s["duration_s"] / 60
                results[label] = {
                    "status": r.status,
                    "pages": s["pages"],
                    "images_stored": s["new_images"],
                    "images_seen": s["images"],
                    "unchanged_304": s["unchanged_images"],
                    "image_urls": s["image_urls"],
                    "errors": s["errors"],
                    "requests": s["requests"],
                    "crawl_s": s["duration_s"],
                    "crawl_cpu_s": s["cpu_s"],
                    "pages_per_cpu_min": round(s["pages"] / (s["cpu_s"] / 60)),
                    "wall_s_with_process_start": round(wall, 2),
                    "pages_per_min": round(s["pages"] / minutes),
                    "image_downloads_per_min": round(s["new_images"] / minutes),
                    "occurrences_per_min": round(s["pages"] * per_page / minutes),
                }
            db.dispose_engines()
        finally:
            server.terminate()
            server.join(10)
    return {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "site": {"pages": pages, "images_per_page": per_page, "distinct_images": distinct},
        "runs": results,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pages", type=int, default=2000)
    ap.add_argument("--images-per-page", type=int, default=2)
    ap.add_argument("--pool", type=int, default=400, help="distinct images the pages draw from")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    out = run(args.pages, args.images_per_page, args.pool)
    if args.json:
        print(json.dumps(out, indent=2))
        return
    print(f"{out['machine']}; site: {out['site']}")
    print(f"{'run':<18} {'pages':>6} {'stored':>7} {'304':>6} {'crawl s':>8} {'cpu s':>6} {'pages/min':>10} "
          f"{'img dl/min':>11} {'occ/min':>8} {'pages/cpu-min':>14}  errors")
    for label, r in out["runs"].items():
        print(f"{label:<18} {r['pages']:>6} {r['images_stored']:>7} {r['unchanged_304']:>6} {r['crawl_s']:>8.1f} "
              f"{r['crawl_cpu_s']:>6.1f} {r['pages_per_min']:>10} {r['image_downloads_per_min']:>11} "
              f"{r['occurrences_per_min']:>8} {r['pages_per_cpu_min']:>14}  {r['errors'] or 'none'}")
    print(f"load average while measuring: {os.getloadavg()}")


if __name__ == "__main__":
    main()
