"""Vector index benchmark: exact vs LSH vs ITQ vs FAISS HNSW, side by side.

    python benchmarks/index.py --n 100000            # table on stdout
    python benchmarks/index.py --n 1000000 --json    # one JSON object keyed by implementation
    python benchmarks/index.py --n 100000 --sweep    # recall/latency of code length x candidates

Data: synthetic clustered unit vectors standing in for whitened CNN
embeddings of a reference collection — clusters of related works (Zipf-like
sizes, members at cosine ~0.5-0.9 of each other) — plus real embeddings of
images of ``../shared/data`` (``build_embedder``: 1280-d raw GeM descriptors,
projected to ``--dim`` by a PCA fitted on them, L2-normalised; they replace
the first synthetic rows). Queries are of three kinds: "copy" (a stored
vector plus noise: a modified copy, cosine ~0.9-0.98 to its original),
"related" (a new member of an existing cluster), and "real" (a real
embedding plus the same noise as "copy"). Ground truth is the exact index on
the same data.

Figures per implementation: recall@10 against exact, single-query latency
(p50, p99), batch latency per query, build time, bytes per reference (index
arrays + key table in memory), bytes per reference on disk, save time, load
time, and the time to add 10,000 references to the saved-and-loaded index.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

# one BLAS thread: on a small shared machine OpenBLAS threads spin-wait and make
# small matrix products 10-25x slower (measured); set it explicitly to compare
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from navee_monitor.index import build_index, load_index  # noqa: E402
from navee_monitor.settings import IndexSettings  # noqa: E402

MODEL = "bench-synthetic-v1"


def clustered_vectors(n: int, dim: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(vectors, cluster of each vector, (centres, spreads)) — unit rows, float32."""
    sizes = np.minimum(rng.zipf(1.6, size=n), 200)
    sizes = sizes[np.cumsum(sizes) <= n]
    sizes = np.append(sizes, n - sizes.sum()) if sizes.sum() < n else sizes
    n_clusters = len(sizes)
    centres = rng.standard_normal((n_clusters, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    spread = rng.uniform(0.3, 1.0, size=n_clusters).astype(np.float32)
    cluster = np.repeat(np.arange(n_clusters), sizes)
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 200_000):
        c = cluster[start : start + 200_000]
        noise = rng.standard_normal((len(c), dim)).astype(np.float32) / np.sqrt(dim)
        block = centres[c] + spread[c, None] * noise
        out[start : start + len(c)] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out, cluster, np.column_stack([centres, spread[:, None]])


def make_queries(data, cluster, centre_spread, n_queries, rng):
    dim = data.shape[1]
    half = n_queries // 2
    src = rng.choice(len(data), size=half, replace=False)
    noise = rng.uniform(0.2, 0.5, size=(half, 1)).astype(np.float32)
    copies = data[src] + noise * rng.standard_normal((half, dim)).astype(np.float32) / np.sqrt(dim)
    c = cluster[rng.choice(len(data), size=n_queries - half, replace=False)]
    centres, spread = centre_spread[:, :dim], centre_spread[:, dim]
    related = centres[c] + spread[c, None] * rng.standard_normal((len(c), dim)).astype(np.float32) / np.sqrt(dim)
    q = np.concatenate([copies, related]).astype(np.float32)
    return q / np.linalg.norm(q, axis=1, keepdims=True), np.array(["copy"] * half + ["related"] * (n_queries - half))


def real_embeddings(limit: int, dim: int, cache: Path | None) -> tuple[np.ndarray, str]:
    """``limit`` real shared-image embeddings projected to ``dim`` by PCA, and a note saying so."""
    raw = np.load(cache) if cache and cache.exists() else None
    if raw is None or len(raw) < limit:
        raw = embed_shared_images(limit)
        if cache:
            np.save(cache, raw)
    raw = raw[:limit].astype(np.float64)
    centred = raw - raw.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    # a PCA fitted on a few hundred vectors has at most n-1 directions: pad with zeros
    basis = np.zeros((raw.shape[1], dim))
    basis[:, : min(dim, len(vt))] = vt[:dim].T
    projected = (centred @ basis).astype(np.float32)
    projected /= np.linalg.norm(projected, axis=1, keepdims=True)
    note = f"{len(raw)} real embeddings ({raw.shape[1]}-d raw GeM of shared images, PCA to {dim}-d) mixed in"
    return projected, note


def embed_shared_images(limit: int) -> np.ndarray:
    import csv

    from navee_monitor.descriptors import build_embedder

    from navee_monitor.imaging.decode import load_image
    from navee_monitor.settings import load_settings

    settings = load_settings(None, environ={}, overrides={}, use_default_file=False)
    shared = REPO.parent / "shared" / "data"
    with open(shared / "MANIFEST.csv", newline="") as fh:
        files = [shared / r["file"] for r in csv.DictReader(fh)][:limit]
    embedder = build_embedder(settings)
    out = []
    for start in range(0, len(files), 32):
        images = [load_image(p, settings.imaging, max_side=512) for p in files[start : start + 32]]
        out.append(embedder.embed(images))
    return np.concatenate(out)


def recall_at(truth, found, k=10) -> np.ndarray:
    return np.array([len({a for a, _ in t[:k]} & {a for a, _ in f[:k]}) / max(1, min(k, len(t))) for t, f in zip(truth, found, strict=True)])


def time_single(index, queries, k=10) -> tuple[list, np.ndarray]:
    results, times = [], []
    for q in queries:
        t0 = time.perf_counter()
        results.append(index.query(q, k))
        times.append((time.perf_counter() - t0) * 1000)
    return results, np.array(times)


def dir_bytes(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.iterdir() if p.is_file())


def measure(kind: str, settings: IndexSettings, keys, data, queries, truth, qtype, args, exact_p50):
    gc.collect()
    index = build_index(settings, MODEL, data.shape[1])
    t0 = time.perf_counter()
    for start in range(0, len(keys), 100_000):
        index.add(keys[start : start + 100_000], data[start : start + 100_000])
    build_s = time.perf_counter() - t0
    n_single = args.exact_queries if kind == "exact" else len(queries)
    single, times = time_single(index, queries[:n_single])
    t0 = time.perf_counter()
    batch = index.query_batch(queries, 10)
    batch_ms = (time.perf_counter() - t0) * 1000 / len(queries)
    rec = recall_at(truth, batch)
    row = {
        "recall_at_10": round(float(rec.mean()), 4),
        "recall_at_10_copy": round(float(rec[qtype == "copy"].mean()), 4),
        "recall_at_10_related": round(float(rec[qtype == "related"].mean()), 4),
        "recall_at_10_real": round(float(rec[qtype == "real"].mean()), 4) if (qtype == "real").any() else None,
        "recall_at_1": round(float(np.mean([bool(t) and bool(f) and t[0][0] == f[0][0] for t, f in zip(truth, batch, strict=True)])), 4),
        "query_ms_p50": round(float(np.percentile(times, 50)), 3),
        "query_ms_p99": round(float(np.percentile(times, 99)), 3),
        "batch_ms_per_query": round(batch_ms, 3),
        "exact_query_ms_p50": exact_p50 if exact_p50 is not None else round(float(np.percentile(times, 50)), 3),
        "build_s": round(build_s, 2),
        # every array of the index (vectors, codes, hash tables, keys blob + offsets +
        # hashes, tombstones; FAISS: graph + codes + keys): there are no per-key Python objects
        "bytes_per_vector": round(index.memory_bytes() / len(index), 1),
    }
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        t0 = time.perf_counter()
        index.save(Path(tmp))
        row["save_s"] = round(time.perf_counter() - t0, 2)
        row["disk_bytes_per_vector"] = round(dir_bytes(Path(tmp)) / len(index), 1)
        del index, single, batch
        gc.collect()
        t0 = time.perf_counter()
        loaded = load_index(Path(tmp), MODEL)
        row["load_s"] = round(time.perf_counter() - t0, 2)
        row["loaded_bytes_per_vector"] = round(loaded.memory_bytes() / len(loaded), 1)
        rng = np.random.default_rng(7)
        extra = data[rng.choice(len(data), 10_000, replace=False)] + 0.01
        extra_keys = [f"new-{i}" for i in range(10_000)]
        t0 = time.perf_counter()
        for start in range(0, 10_000, 100):  # as ingestion does: batches of embedded images
            loaded.add(extra_keys[start : start + 100], extra[start : start + 100])
        row["add_10k_s"] = round(time.perf_counter() - t0, 2)
        row["after_add_found"] = float(np.mean([r and r[0][0] == k for r, k in zip(loaded.query_batch(extra[:100], 1), extra_keys[:100], strict=True)]))
        del loaded
    gc.collect()
    return row


def sweep(data, keys, queries, truth, qtype, exact_p50) -> None:
    """Recall and latency of code lengths x candidates (candidates varied on one built index)."""
    for kind in ("lsh", "itq"):
        for bits, tables in [(16, 16), (16, 32)]:  # 256 and 512-bit codes, Hamming ranking
            index = build_index(IndexSettings(kind=kind, bits=bits, tables=tables), MODEL, data.shape[1])
            index.add(keys, data)
            for candidates in (1500, 2000, 3000, 4000, 8000):
                index.candidates = candidates
                found, times = time_single(index, queries)
                rec = recall_at(truth, found)
                kinds = " / ".join(f"{rec[qtype == t].mean():.3f}" for t in ("copy", "related", "real") if (qtype == t).any())
                p50 = np.percentile(times, 50)
                print(f"{kind} hamming {bits * tables} bits candidates={candidates:5d}  recall@10={rec.mean():.3f} "
                      f"({kinds})  p50={p50:6.2f} ms  speed-up {exact_p50 / p50:.0f}x", flush=True)
            del index
            gc.collect()


def markdown(results: dict, args, note: str, len_queries: int) -> str:
    lines = [
        f"### n = {args.n:,} ({args.dim}-d, {len_queries} queries, k = 10)",
        "",
        f"Machine: 2-core x86_64, 24 GiB, CPU only, shared with other engineers (load average {os.getloadavg()[0]:.0f} at the end; "
        f"Python {platform.python_version()}, numpy {np.__version__}). Date: 2026-11-27. Data: {note}.",
        "",
        "| index | recall@10 | copy / related / real | recall@1 | query p50 ms | p99 ms | batch ms/q | speed-up vs exact | build s | bytes/ref (RAM) | bytes/ref (disk) | add 10k to loaded s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for kind, r in results.items():
        speed = r["exact_query_ms_p50"] / r["query_ms_p50"]
        lines.append(
            f"| {r['label']} | {r['recall_at_10']:.3f} | {r['recall_at_10_copy']:.3f} / {r['recall_at_10_related']:.3f} / {r['recall_at_10_real'] or 0:.3f} | {r['recall_at_1']:.3f} "
            f"| {r['query_ms_p50']:.2f} | {r['query_ms_p99']:.2f} | {r['batch_ms_per_query']:.2f} | {speed:.0f}x | {r['build_s']:.1f} "
            f"| {r['bytes_per_vector']:.0f} | {r['disk_bytes_per_vector']:.0f} | {r['add_10k_s']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--queries", type=int, default=200, help="synthetic queries (plus a quarter as many real ones)")
    parser.add_argument("--exact-queries", type=int, default=50, help="single queries timed on the exact index")
    parser.add_argument("--kinds", default="exact,lsh,itq,faiss")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override an index setting for this run (e.g. candidates=8000)")
    parser.add_argument("--real", type=int, default=300, help="real image embeddings mixed in (0: none)")
    parser.add_argument("--real-cache", type=Path, default=None, help="raw real embeddings kept here between runs (.npy)")
    parser.add_argument("--sweep", action="store_true")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--markdown", type=Path, help="append the table to this file (e.g. BENCHMARKS.md)")
    parser.add_argument("--tmp", default=None, help="where index files are saved while measuring")
    args = parser.parse_args()

    rng = np.random.default_rng(2026)
    data, cluster, centre_spread = clustered_vectors(args.n, args.dim, rng)
    queries, qtype = make_queries(data, cluster, centre_spread, args.queries, rng)
    if args.real:
        real, note = real_embeddings(args.real, args.dim, args.real_cache)
        data[: len(real)] = real
        n_real_q = min(len(real), max(10, args.queries // 4))
        src = rng.choice(len(real), size=n_real_q, replace=False)
        noise = rng.uniform(0.2, 0.5, size=(n_real_q, 1)).astype(np.float32)
        real_q = real[src] + noise * rng.standard_normal((n_real_q, args.dim)).astype(np.float32) / np.sqrt(args.dim)
        real_q /= np.linalg.norm(real_q, axis=1, keepdims=True)
        queries = np.concatenate([queries, real_q]).astype(np.float32)
        qtype = np.concatenate([qtype, np.array(["real"] * n_real_q)])
    else:
        note = "no real embeddings (--real 0)"
    note = f"{args.n:,} synthetic clustered vectors; {note}"
    print(note, file=sys.stderr)
    keys = [f"ref-{i}" for i in range(args.n)]

    exact = build_index(IndexSettings(kind="exact"), MODEL, args.dim)
    exact.add(keys, data)
    truth = exact.query_batch(queries, 10)
    if args.sweep:
        _, times = time_single(exact, queries[: args.exact_queries])
        del exact
        sweep(data, keys, queries, truth, qtype, float(np.percentile(times, 50)))
        return 0
    del exact

    overrides = dict(item.split("=", 1) for item in args.set)
    results: dict[str, dict] = {}
    exact_p50 = None
    for kind in [k.strip() for k in args.kinds.split(",")]:
        settings = IndexSettings(**{**overrides, "kind": kind})
        defaults = settings
        print(f"measuring {kind} ...", file=sys.stderr, flush=True)
        row = measure(kind, settings, keys, data, queries, truth, qtype, args, exact_p50)
        if kind == "exact":
            exact_p50 = row["query_ms_p50"]
        label = {
            "exact": "exact (numpy brute force, float16)",
            "lsh": f"lsh {defaults.bits * defaults.tables}-bit codes, {defaults.search}, {defaults.candidates} re-ranked",
            "itq": f"itq {defaults.bits * defaults.tables}-bit codes, {defaults.search}, {defaults.candidates} re-ranked",
            "faiss": f"faiss HNSW M={defaults.faiss_hnsw_m} efC={defaults.faiss_ef_construction} efSearch={defaults.faiss_ef_search}",
        }[kind]
        results[kind] = {**row, "label": label}
        print(f"{kind}: {row}", file=sys.stderr, flush=True)
    if exact_p50 is not None:
        for row in results.values():
            row["exact_query_ms_p50"] = exact_p50
    if args.json:
        print(json.dumps({k: {f: v for f, v in r.items() if f != "label"} for k, r in results.items()}, indent=2))
    else:
        print(markdown(results, args, note, len(queries)))
    if args.markdown:
        with open(args.markdown, "a", encoding="utf-8") as fh:
            fh.write("\n" + markdown(results, args, note, len(queries)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
