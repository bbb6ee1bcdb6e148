"""`navee-monitor demo` from a clean directory: planted copies found, no false alert."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from navee_monitor.demo.gallery import PLANTED


@pytest.mark.slow
def test_demo_finds_planted_copies_and_no_false_alert(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("NAVEE_")}
    env["NAVEE_DATA_DIR"] = str(tmp_path / "user-data")  # must stay untouched
    r = subprocess.run([sys.executable, "-m", "navee_monitor", "--log-level", "warning", "demo", "--dir",
                        str(tmp_path / "demo")], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=900)
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    assert f"Planted copies found: {len(PLANTED)}/{len(PLANTED)}" in out, out
    assert "no false alert" in out
    report = Path(out.split("HTML report: ")[1].splitlines()[0])
    assert report.is_file() and report.stat().st_size > 1000
    assert "alerts list" in out and "web" in out  # says what to try next
    assert not (tmp_path / "user-data").exists()


def test_demo_refuses_to_overwrite_the_data_dir(tmp_path):
    from navee_monitor.cli.main import main

    assert main(["--data-dir", str(tmp_path / "d"), "demo", "--dir", str(tmp_path / "d")]) == 2
