"""Settings: every setting documented, KAPVIZ_* variables and secrets.toml honoured."""

from dataclasses import fields

import pytest

from kapviz.config import DEFAULT_DATABASE_URL, SETTINGS_HELP, Settings, load_settings


def test_every_setting_is_documented():
    """A setting without help text is a setting nobody can find."""
    assert {f.name for f in fields(Settings)} == set(SETTINGS_HELP)


def test_defaults_follow_domain(tmp_path):
    """Defaults are DOMAIN.md's numbers and the embedded SQLite database."""
    s = load_settings({}, secrets_path=tmp_path / "none.toml")
    assert s.database_url == DEFAULT_DATABASE_URL and s.is_embedded_default
    assert (s.baseline_window_days, s.bp_excursion_systolic, s.bp_excursion_diastolic) == (
        30,
        180,
        110,
    )
    assert (s.bp_rise_systolic, s.bp_rise_diastolic, s.sedation_moaas_max) == (40, 25, 3)
    assert (s.esketamine_min_monitoring_min, s.small_cell_threshold, s.refresh_seconds) == (
        120,
        11,
        60,
    )


def test_environment_overrides(tmp_path):
    """KAPVIZ_DATABASE_URL and numeric KAPVIZ_* variables override the defaults."""
    s = load_settings(
        {"KAPVIZ_DATABASE_URL": "sqlite:///x.db", "KAPVIZ_REFRESH_SECONDS": "15"},
        secrets_path=tmp_path / "none.toml",
    )
    assert s.database_url == "sqlite:///x.db" and not s.is_embedded_default
    assert s.refresh_seconds == 15


def test_secrets_file_url(tmp_path):
    """`[connections.kapviz] url` in secrets.toml is used when no variable is set."""
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('[connections.kapviz]\nurl = "postgresql+psycopg://u@h/db"\n')
    assert load_settings({}, secrets_path=secrets).database_url == "postgresql+psycopg://u@h/db"
    env = {"KAPVIZ_DATABASE_URL": "sqlite:///env.db"}
    assert load_settings(env, secrets_path=secrets).database_url == "sqlite:///env.db"


def test_bad_number_is_named(tmp_path):
    """A non-numeric setting fails with the variable's name and value."""
    with pytest.raises(ValueError, match="KAPVIZ_REFRESH_SECONDS='soon'"):
        load_settings({"KAPVIZ_REFRESH_SECONDS": "soon"}, secrets_path=tmp_path / "n.toml")


def test_settings_doc_lists_every_setting():
    """docs/settings.md names every setting's environment variable."""
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "settings.md").read_text()
    for f in fields(Settings):
        assert f"`KAPVIZ_{f.name.upper()}`" in doc, f.name


@pytest.mark.parametrize(
    ("env", "mode"),
    [
        ({}, "none"),
        ({"KAPVIZ_DATABASE_URL": "sqlite:///clinic.db"}, "local"),
        ({"KAPVIZ_DATABASE_URL": "postgresql+psycopg://u@h/db"}, "local"),
        ({"KAPVIZ_AUTH_MODE": "local"}, "local"),
        ({"KAPVIZ_AUTH_MODE": " OIDC "}, "oidc"),
        ({"KAPVIZ_DATABASE_URL": "sqlite:///clinic.db", "KAPVIZ_AUTH_MODE": "none"}, "none"),
    ],
    ids=["demo", "sqlite-file", "postgresql", "local", "oidc", "explicit-none"],
)
def test_sign_in_mode(tmp_path, env, mode):
    """auto: no sign-in on the embedded demo database only; any other database signs in."""
    s = load_settings(env, secrets_path=tmp_path / "none.toml")
    assert s.sign_in == mode


def test_sign_in_mode_from_secrets_url(tmp_path):
    """A database set in secrets.toml is not the demo either: sign-in is on."""
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('[connections.kapviz]\nurl = "postgresql+psycopg://u@h/db"\n')
    assert load_settings({}, secrets_path=secrets).sign_in == "local"


def test_access_settings_defaults_and_checks(tmp_path):
    """Idle 30 min, lock after 5 failures for 15 min, 200 MB uploads; nonsense refused."""
    s = load_settings({}, secrets_path=tmp_path / "none.toml")
    assert (s.auth_mode, s.idle_minutes, s.lockout_failures, s.lockout_minutes) == (
        "auto",
        30,
        5,
        15,
    )
    assert s.upload_max_mb == 200
    with pytest.raises(ValueError, match="KAPVIZ_AUTH_MODE='ldap' is not accepted: expected"):
        load_settings({"KAPVIZ_AUTH_MODE": "ldap"}, secrets_path=tmp_path / "none.toml")
    with pytest.raises(ValueError, match="KAPVIZ_IDLE_MINUTES=0 is not accepted: expected a whole"):
        load_settings({"KAPVIZ_IDLE_MINUTES": "0"}, secrets_path=tmp_path / "none.toml")
