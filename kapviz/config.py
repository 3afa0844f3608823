"""One typed Settings object: where the data lives and every configurable clinical number.

Values come from `KAPVIZ_*` environment variables, then `.streamlit/secrets.toml`
(`[connections.kapviz] url`), then the defaults below (docs/domain.md). `SETTINGS_HELP` documents
every setting; a test fails when one is missing there.

Sign-in (issue 9): `auth_mode` "auto" means no sign-in on the embedded demo database and local
accounts on any other database, so pointing kapviz at clinic data turns sign-in on by itself.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB_PATH = PROJECT_ROOT / "data" / "kapviz.db"
DEFAULT_DATABASE_URL = f"sqlite:///{DEFAULT_DB_PATH}"
SECRETS_PATH = PROJECT_ROOT / ".streamlit" / "secrets.toml"

AUTH_AUTO = "auto"
AUTH_NONE = "none"
AUTH_LOCAL = "local"
AUTH_OIDC = "oidc"
AUTH_MODES: tuple[str, ...] = (AUTH_AUTO, AUTH_NONE, AUTH_LOCAL, AUTH_OIDC)
TEXT_SETTINGS = frozenset({"auth_mode"})
"""Settings read as text; every other one (but the database URL) is a whole number."""


@dataclass(frozen=True)
class Settings:
    """Settings in force; build once with `load_settings()`."""

    database_url: str = DEFAULT_DATABASE_URL
    baseline_window_days: int = 30
    refresh_seconds: int = 60
    alert_lookback_days: int = 14
    bp_review_systolic: int = 140
    bp_review_diastolic: int = 90
    bp_excursion_systolic: int = 180
    bp_excursion_diastolic: int = 110
    bp_rise_systolic: int = 40
    bp_rise_diastolic: int = 25
    sedation_moaas_max: int = 3
    esketamine_min_monitoring_min: int = 120
    small_cell_threshold: int = 11
    demo_patients: int = 600
    demo_seed: int = 7
    auth_mode: str = AUTH_AUTO
    idle_minutes: int = 30
    lockout_failures: int = 5
    lockout_minutes: int = 15
    upload_max_mb: int = 200

    def __post_init__(self) -> None:
        if self.auth_mode not in AUTH_MODES:
            raise ValueError(
                f"KAPVIZ_AUTH_MODE={self.auth_mode!r} is not one of {', '.join(AUTH_MODES)}"
            )
        for name in ("idle_minutes", "lockout_failures", "lockout_minutes", "upload_max_mb"):
            if getattr(self, name) < 1:
                raise ValueError(f"KAPVIZ_{name.upper()} must be at least 1")

    @property
    def is_embedded_default(self) -> bool:
        """True when the app runs on the bundled SQLite file (demo data, no sign-in needed)."""
        return self.database_url == DEFAULT_DATABASE_URL

    @property
    def sign_in(self) -> str:
        """The sign-in in force: "none", "local" or "oidc" ("auto" resolved by database)."""
        if self.auth_mode != AUTH_AUTO:
            return self.auth_mode
        return AUTH_NONE if self.is_embedded_default else AUTH_LOCAL


SETTINGS_HELP: dict[str, str] = {
    "database_url": "SQLAlchemy URL of the clinic database (KAPVIZ_DATABASE_URL).",
    "baseline_window_days": "Baseline = latest score at most this many days before the first dose.",
    "refresh_seconds": "Interval of the live refresh on the Overview page.",
    "alert_lookback_days": "BP excursions and serious events this recent raise an alert.",
    "bp_review_systolic": "Pre-dose systolic (mmHg) at or above which BP needs review.",
    "bp_review_diastolic": "Pre-dose diastolic (mmHg) at or above which BP needs review.",
    "bp_excursion_systolic": "Any dosing-session systolic (mmHg) at or above this: excursion.",
    "bp_excursion_diastolic": "Any dosing-session diastolic (mmHg) at or above this: excursion.",
    "bp_rise_systolic": "A systolic rise over pre-dose greater than this (mmHg) is flagged.",
    "bp_rise_diastolic": "A diastolic rise over pre-dose greater than this (mmHg) is flagged.",
    "sedation_moaas_max": "MOAA/S at or below this is flagged as sedation (0 = unresponsive).",
    "esketamine_min_monitoring_min": "Esketamine observation shorter than this is flagged (REMS).",
    "small_cell_threshold": 'Counts of 1 to this minus 1 show as "<N" in analyst views and '
    "aggregate exports, with complementary suppression.",
    "demo_patients": "Patients in the demo clinic created on first start.",
    "demo_seed": "Random seed of the demo clinic created on first start.",
    "auth_mode": "Sign-in: auto (none on the embedded demo database, local otherwise), none, "
    "local (accounts of `python -m kapviz users`) or oidc (st.login, [auth] secrets).",
    "idle_minutes": "Minutes without activity after which a signed-in user is signed out.",
    "lockout_failures": "Wrong passwords in a row that lock a local account.",
    "lockout_minutes": "Minutes a locked local account stays locked.",
    "upload_max_mb": "Largest file (MB) the Data page accepts for import.",
}


def _secrets_url(path: Path = SECRETS_PATH) -> str | None:
    if not path.exists():
        return None
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    return data.get("connections", {}).get("kapviz", {}).get("url")


def database_url(given: str | None = None) -> str:
    """The database a command works on: `given` (a --db option), else the configured one."""
    return given or load_settings().database_url


def load_settings(env: dict[str, str] | None = None, secrets_path: Path = SECRETS_PATH) -> Settings:
    """Build the settings from `KAPVIZ_*` variables, secrets.toml and the defaults."""
    env = dict(os.environ if env is None else env)
    values: dict[str, object] = {}
    url = env.get("KAPVIZ_DATABASE_URL") or _secrets_url(secrets_path)
    if url:
        values["database_url"] = url
    for field in fields(Settings):
        if field.name == "database_url":
            continue
        raw = env.get(f"KAPVIZ_{field.name.upper()}")
        if raw is None or raw == "":
            continue
        if field.name in TEXT_SETTINGS:
            values[field.name] = raw.strip().lower()
            continue
        try:
            values[field.name] = int(raw)
        except ValueError as exc:
            raise ValueError(f"KAPVIZ_{field.name.upper()}={raw!r} is not a whole number") from exc
    return replace(Settings(), **values)
