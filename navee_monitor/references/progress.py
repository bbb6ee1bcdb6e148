"""Progress of long reference imports: a tqdm bar on a terminal, periodic log lines otherwise."""

from __future__ import annotations

import logging
import sys
import time
from collections import Counter

log = logging.getLogger(__name__)


class Progress:
    def __init__(self, total: int, what: str, interval_s: float = 10.0, enabled: bool = True, stream=None):
        self.total = total
        self.what = what
        self.interval_s = interval_s
        self.done = 0
        self.outcomes: Counter[str] = Counter()
        self._started = time.monotonic()
        self._last_log = self._started
        self._bar = None
        stream = stream or sys.stderr
        if enabled and total and hasattr(stream, "isatty") and stream.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=what, unit="img", file=stream, dynamic_ncols=True)
        self.enabled = enabled

    def update(self, outcome: str, n: int = 1) -> None:
        self.done += n
        self.outcomes[outcome] += n
        if self._bar is not None:
            self._bar.update(n)
            self._bar.set_postfix({k: v for k, v in self.outcomes.most_common(4)}, refresh=False)
            return
        now = time.monotonic()
        if self.enabled and now - self._last_log >= self.interval_s:
            self._last_log = now
            rate = self.done / max(now - self._started, 1e-9)
            log.info("%s: %d/%d (%.1f/s) %s", self.what, self.done, self.total, rate,
                     ", ".join(f"{k} {v}" for k, v in sorted(self.outcomes.items())))

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
