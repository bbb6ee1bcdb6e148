"""Process helpers shared by the crawler's bookkeeping, the daemon and FAISS callers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager


def pid_alive(pid: int | None) -> bool:
    """True when ``pid`` runs; a zombie (an unreaped child of a killed daemon) counts as dead."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


@contextmanager
def one_openmp_thread() -> Iterator[None]:
    """Run FAISS calls inside on one OpenMP thread, then restore the calling thread's setting.

    FAISS parallelises a search over its queries only, and idle OpenMP threads
    spin-wait: with the CNN busy on the other core of a small server, a single
    Hamming k-NN query over a million codes took 123 ms instead of 5. The
    setting belongs to the calling thread, so each matcher worker sets its own.
    """
    import faiss

    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(threads)
