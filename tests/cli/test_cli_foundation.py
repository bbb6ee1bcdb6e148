"""CLI exit codes and messages, through the real entry point."""

import os
import subprocess
import sys
from pathlib import Path

from navee_monitor.cli.main import main

REPO = Path(__file__).resolve().parents[2]


def run_cli(*args, env=None, cwd=None):
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("NAVEE_")}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "navee_monitor", *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd or REPO, timeout=120)


def test_version():
    r = run_cli("--version")
    assert r.returncode == 0 and r.stdout.startswith("navee-monitor ")


def test_db_upgrade_creates_database(tmp_path):
    r = run_cli("db", "upgrade", env={"NAVEE_DATA_DIR": str(tmp_path)}, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "navee.db").is_file()
    assert "0001_initial" in r.stdout or "revision" in r.stdout


def test_config_check_ok_on_repository_config():
    r = run_cli("config", "check")
    assert r.returncode == 0, r.stderr
    assert "configuration OK" in r.stdout


def test_config_check_broken_names_key_exit_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("sites:\n  - name: a\n    start_urls: [https://a.example/]\n  - name: b\n"
                   "    start_urls: [https://b.example/]\n    schedule: '61 * * * *'\n")
    r = run_cli("--config", str(bad), "config", "check")
    assert r.returncode == 2
    assert "sites[1].schedule: '61 * * * *' is not a valid cron expression" in r.stderr
    assert "Traceback" not in r.stderr


def test_usage_error_exit_2_one_line(capsys):
    assert main(["no-such-command"]) == 2
    err = capsys.readouterr().err
    assert "invalid choice" in err and "Traceback" not in err


def test_no_command_prints_help_exit_2(capsys):
    assert main([]) == 2


def test_unmigrated_database_error_is_actionable(tmp_path, capsys):
    # `config show` needs no database; a database command on an empty one explains what to do
    from navee_monitor.cli.context import AppContext
    from navee_monitor.settings import load_settings

    ctx = AppContext(settings=load_settings(None, environ={}, overrides={"data_dir": str(tmp_path)}, use_default_file=False))
    import pytest

    from navee_monitor.errors import StorageError

    with pytest.raises(StorageError, match="db upgrade"):
        with ctx.session():
            pass


def test_keyboard_interrupt_exits_130(monkeypatch, capsys):
    import navee_monitor.cli.main as m

    def boom(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(m, "_run", boom)
    assert m.main(["config", "check"]) == 130


def test_json_logging(tmp_path):
    r = run_cli("--log-format", "json", "--log-level", "info", "db", "upgrade", env={"NAVEE_DATA_DIR": str(tmp_path)})
    assert r.returncode == 0
    import json

    lines = [json.loads(line) for line in r.stderr.splitlines() if line.startswith("{")]
    assert lines and all({"time", "level", "logger", "message"} <= set(x) for x in lines)
