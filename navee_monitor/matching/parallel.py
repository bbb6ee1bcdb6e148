"""Running the matcher's per-image work on a few threads, and timing its stages.

Threads, not processes: the heavy parts (OpenCV's DNN, ORB, brute-force
matching and RANSAC; the TFLite interpreter) release the GIL, the models are
loaded once and shared, and images need not be pickled. On two cores a pool
of two workers doing region proposals and verification while the calling
thread embeds keeps both cores busy, where the stages one after another
kept about 1.5 busy.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

Runner = Callable[[Callable[[T], R], Sequence[T]], list[Future]]


def worker_count(configured: int) -> int:
    """``matching.workers``: 0 = one per core."""
    return configured or os.cpu_count() or 1


@contextmanager
def parallel_map(workers: int) -> Iterator[Runner]:
    """Yields ``run(fn, items) -> futures``, in the items' order.

    With one worker the calls run at once in the calling thread (no pool);
    otherwise on a pool that lives as long as the ``with`` block. On an
    exception the work not yet started is cancelled.
    """
    n = worker_count(workers)
    if n <= 1:
        yield _run_inline
        return
    pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="matcher")
    try:
        yield lambda fn, items: [pool.submit(fn, item) for item in items]
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _run_inline(fn: Callable[[T], R], items: Sequence[T]) -> list[Future]:
    futures = []
    for item in items:
        f: Future = Future()
        try:
            f.set_result(fn(item))
        except Exception as exc:  # noqa: BLE001 - raised again by f.result(), as with a pool
            f.set_exception(exc)
        futures.append(f)
    return futures


class StageClock:
    """Seconds spent per stage, summed over threads (so with several workers the
    stages overlap and add up to more than the wall-clock time)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._lock = threading.Lock()

    def add(self, stage: str, seconds: float) -> None:
        with self._lock:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds
