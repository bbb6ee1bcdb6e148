from pathlib import Path

import pytest

from navee_monitor.errors import ConfigError
from navee_monitor.settings import load_settings, parse_interval

REPO = Path(__file__).resolve().parents[1]


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "config.yaml"
    p.write_text(text)
    return p


def _site(**kw) -> str:
    fields = {"name": "shop", "start_urls": "[https://shop.example.com/]", **kw}
    return "sites:\n  - " + "\n    ".join(f"{k}: {v}" for k, v in fields.items()) + "\n"


def test_repository_config_is_valid_and_matches_defaults():
    s = load_settings(REPO / "config.yaml", environ={})
    assert s.sites == []
    assert s.data_dir == (REPO / "navee-data").resolve()
    defaults = load_settings(None, environ={}, use_default_file=False)
    # every documented value in config.yaml equals the built-in default
    assert s.model_dump(exclude={"data_dir"}) == defaults.model_dump(exclude={"data_dir"})


def test_no_file_uses_builtin_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = load_settings(None, environ={"XDG_DATA_HOME": str(tmp_path / "xdg")})
    assert s.matching.threshold == 0.5
    assert s.database_url.startswith("sqlite:///")


def test_site_defaults_allowed_domains_from_start_urls(tmp_path):
    s = load_settings(_write(tmp_path, _site(start_urls="[https://a.example.com/x, http://b.example.org:8080/]")), environ={})
    assert s.sites[0].allowed_domains == ["a.example.com", "b.example.org"]
    assert s.sites[0].obey_robots is True


@pytest.mark.parametrize(
    "schedule,ok", [("45s", True), ("30m", True), ("6h", True), ("1d", True), ("0 3 * * *", True), ("*/5 * * * 1-5", True),
                    ("61 * * * *", False), ("10x", False), ("0s", False), ("* * *", False), ("every day", False)],
)
def test_schedule_validation(tmp_path, schedule, ok):
    path = _write(tmp_path, _site(schedule=f"'{schedule}'"))
    if ok:
        assert load_settings(path, environ={}).sites[0].schedule == schedule
    else:
        with pytest.raises(ConfigError) as e:
            load_settings(path, environ={})
        assert "sites[0].schedule:" in str(e.value)
        assert schedule in str(e.value)


def test_bad_cron_message_names_key_and_reason(tmp_path):
    text = _site() + "  - name: other\n    start_urls: [https://o.example.com/]\n    schedule: '61 * * * *'\n"
    with pytest.raises(ConfigError) as e:
        load_settings(_write(tmp_path, text), environ={})
    assert "sites[1].schedule: '61 * * * *' is not a valid cron expression" in str(e.value)


def test_parse_interval():
    assert parse_interval("45s") == 45 and parse_interval("2h") == 7200 and parse_interval("x") is None


@pytest.mark.parametrize(
    "text,needle",
    [
        ("matching:\n  treshold: 0.4\n", "matching.treshold: unknown key"),
        ("colour: red\n", "colour: unknown key"),
        ("matching:\n  threshold: high\n", "matching.threshold:"),
        ("matching:\n  threshold: 1.5\n", "matching.threshold:"),
        ("index:\n  kind: annoy\n", "index.kind:"),
        ("sites:\n  - name: x\n", "sites[0].start_urls: Field required"),
        ("sites:\n  - name: x\n    start_urls: []\n", "sites[0].start_urls:"),
        ("sites:\n  - name: x\n    start_urls: [ftp://x.org/]\n", "is not an http(s) URL"),
        (_site() + "  - name: shop\n    start_urls: [https://b.example.com/]\n", "duplicate site name 'shop'"),
        (_site(max_depth="-1"), "sites[0].max_depth:"),
        (_site(exclude="['(unclosed']"), "sites[0].exclude: '(unclosed' is not a valid regular expression"),
        (_site(enabled="maybe"), "sites[0].enabled:"),
        ("- just\n- a list\n", "top level must be a mapping"),
        ("matching: [unclosed\n", "not valid YAML"),
    ],
)
def test_invalid_configs_name_the_key(tmp_path, text, needle):
    with pytest.raises(ConfigError) as e:
        load_settings(_write(tmp_path, text), environ={})
    assert needle in str(e.value)
    assert e.value.exit_code == 2


def test_yaml_is_loaded_safely(tmp_path):
    with pytest.raises(ConfigError):
        load_settings(_write(tmp_path, "data_dir: !!python/object/apply:os.system ['echo pwned']\n"), environ={})


def test_precedence_defaults_file_env_flags(tmp_path):
    path = _write(tmp_path, "data_dir: from-file\nmatching:\n  threshold: 0.6\n  top_k: 7\n")
    s = load_settings(path, environ={})
    assert s.data_dir == (tmp_path / "from-file").resolve()  # relative to the file
    assert (s.matching.threshold, s.matching.top_k) == (0.6, 7)

    env = {"NAVEE_DATA_DIR": str(tmp_path / "env"), "NAVEE_MATCHING__THRESHOLD": "0.7",
           "NAVEE_DATABASE_URL": "sqlite:////tmp/x.db", "NAVEE_LOG_LEVEL": "debug"}
    s = load_settings(path, environ=env)
    assert s.data_dir == tmp_path / "env"
    assert s.matching.threshold == 0.7 and s.matching.top_k == 7
    assert s.database_url == "sqlite:////tmp/x.db"
    assert s.logging.level == "debug"

    s = load_settings(path, environ=env, overrides={"matching": {"threshold": 0.8}, "data_dir": str(tmp_path / "flag")})
    assert s.matching.threshold == 0.8 and s.data_dir == tmp_path / "flag"


def test_bad_env_value_is_reported_with_key(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_settings(None, environ={"NAVEE_MATCHING__TOP_K": "many"}, use_default_file=False)
    assert "matching.top_k" in str(e.value)


def test_settings_are_immutable(settings):
    with pytest.raises(Exception):
        settings.matching.threshold = 0.1  # type: ignore[misc]
    with pytest.raises(Exception):
        settings.data_dir = Path("/")  # type: ignore[misc]


def test_missing_config_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.yaml", environ={})
