"""Run the real ``navee-monitor run`` as a subprocess and follow its JSON log lines."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


class SystemdSocket:
    """The NOTIFY_SOCKET end systemd would hold: collects READY=1, WATCHDOG=1, STOPPING=1..."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.messages: list[str] = []
        self._stop = False
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop:
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            self.messages.extend(data.decode().splitlines())

    def close(self) -> None:
        self._stop = True
        self._thread.join(2)
        self.sock.close()


class DaemonProcess:
    """``navee-monitor --config CONFIG run`` with JSON logs; ``events`` are parsed log lines."""

    def __init__(self, config: Path, notify_socket: Path | None = None) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("NAVEE_")}
        env["NAVEE_LOG_FORMAT"] = "json"
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        if notify_socket is not None:
            env["NOTIFY_SOCKET"] = str(notify_socket)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "navee_monitor", "--config", str(config), "run"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=config.parent,
        )
        self.lines: list[str] = []
        self.events: list[dict] = []
        self._queue: queue.Queue[dict] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if isinstance(ev, dict):
                self.events.append(ev)
                self._queue.put(ev)

    def wait_for(self, pred, timeout: float, what: str) -> dict:
        """The first log event (from now on) matching ``pred``."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                ev = self._queue.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            if pred(ev):
                return ev
        raise AssertionError(f"daemon never logged {what} within {timeout:.0f}s "
                             f"(exit {self.proc.poll()}); last lines:\n" + "\n".join(self.lines[-30:]))

    def wait_event(self, name: str, timeout: float, **fields) -> dict:
        return self.wait_for(lambda e: e.get("event") == name and all(e.get(k) == v for k, v in fields.items()),
                             timeout, f"event {name} {fields or ''}")

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, timeout: float) -> tuple[int, float]:
        """SIGTERM; (exit status, seconds it took)."""
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout)
        self._reader.join(5)
        return rc, time.monotonic() - t0

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
