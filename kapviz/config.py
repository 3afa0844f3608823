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
BOUNDS: dict[str, tuple[int, int | None]] = {
    "idle_minutes": (1, None),
    "lockout_failures": (1, None),
    "lockout_minutes": (1, None),
    "upload_max_mb": (1, None),
    "upload_max_unzipped_mb": (1, None),
    "upload_memory_mb": (64, None),
    "refresh_seconds": (1, 3600),  # the Overview's interval control offers 1 s to 1 h
    "replica_max_lag_seconds": (1, None),
}
"""Whole-number settings with a lower (and upper) bound."""


class SettingsError(ValueError):
    """A setting's value is not accepted: the message names the setting, the value given and
    what is accepted, for the command line and the app to show as it is."""


@dataclass(frozen=True)
class Settings:
    """Settings in force; build once with `load_settings()`."""

    database_url: str = DEFAULT_DATABASE_URL
    baseline_window_days: int = 30
    refresh_seconds: int = 60
    alert_lookback_days: int = 14
    inactive_days: int = 90
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
    timezone: str = ""
    upload_max_unzipped_mb: int = 300
    upload_memory_mb: int = 2048
    plausible_dose_min_mg: int = 1
    plausible_dose_max_mg_iv: int = 300
    plausible_dose_max_mg_im: int = 300
    plausible_dose_max_mg_oral: int = 1000
    plausible_dose_max_mg_intranasal: int = 112
    plausible_weight_min_kg: int = 20
    plausible_weight_max_kg: int = 350
    read_database_url: str = ""
    replica_max_lag_seconds: int = 30

    def __post_init__(self) -> None:
        if self.auth_mode not in AUTH_MODES:
            raise SettingsError(
                f"KAPVIZ_AUTH_MODE={self.auth_mode!r} is not accepted: expected one of "
                f"{', '.join(AUTH_MODES)}"
            )
        if self.timezone:
            from kapviz.clinic_time import TimeZoneError, zone_named

            try:
                zone_named(self.timezone)
            except TimeZoneError as exc:
                raise SettingsError(str(exc)) from None
        for name, (low, high) in BOUNDS.items():
            value = getattr(self, name)
            if value < low or (high is not None and value > high):
                accepted = f"from {low} to {high}" if high is not None else f"of at least {low}"
                raise SettingsError(
                    f"KAPVIZ_{name.upper()}={value!r} is not accepted: expected a whole "
                    f"number {accepted}"
                )

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
    "inactive_days": "A patient with no completed session this many days is inactive: their "
    "alerts are listed apart on the Safety page.",
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
    "timezone": "The clinic's IANA time zone (e.g. America/Los_Angeles; empty = the server's): "
    "calendar days, weeks, months, today, and what template times mean.",
    "upload_max_unzipped_mb": "Largest total (MB) an uploaded Excel workbook may unpack to; "
    "checked before it is opened, with a compression ratio above 100 refused (zip bombs).",
    "upload_memory_mb": "Memory (MB) the separate process that reads an upload may use; a "
    "file that needs more is refused without slowing the server.",
    "plausible_dose_min_mg": "Import: a dose (mg) below this is implausible (any route).",
    "plausible_dose_max_mg_iv": "Import: an IV dose (mg) above this is implausible "
    "(DOMAIN §1: 0.1–0.75 mg/kg).",
    "plausible_dose_max_mg_im": "Import: an IM dose (mg) above this is implausible.",
    "plausible_dose_max_mg_oral": "Import: a sublingual or oral dose (mg) above this is "
    "implausible (DOMAIN §1: 25–300 mg fixed).",
    "plausible_dose_max_mg_intranasal": "Import: an intranasal dose (mg) above this is "
    "implausible (esketamine: 28 mg per device, 56 or 84 mg a session).",
    "plausible_weight_min_kg": "Import: a weight (kg) below this is implausible.",
    "plausible_weight_max_kg": "Import: a weight (kg) above this is implausible.",
    "read_database_url": "SQLAlchemy URL of a PostgreSQL streaming replica the pages read "
    "from (empty = read the primary); writes and read-your-write reads go to the primary.",
    "replica_max_lag_seconds": "Replication lag (s) of the read replica above which every "
    "page names the replica as behind.",
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
        if field.name in ("timezone", "read_database_url"):
            values[field.name] = raw.strip()  # IANA names and URLs are case-sensitive
            continue
        if field.name in TEXT_SETTINGS:
            values[field.name] = raw.strip().lower()
            continue
        values[field.name] = whole_number(f"KAPVIZ_{field.name.upper()}", raw)
    return replace(Settings(), **values)


def whole_number(name: str, raw: str) -> int:
    """A whole-number setting: `60`, ` 60 ` and `60.0` are 60; anything else is refused with
    the setting's name, its value and what is accepted."""
    try:
        number = float(raw.strip())
    except ValueError:
        number = float("nan")
    if number != number or not number.is_integer():
        default = getattr(Settings, name.removeprefix("KAPVIZ_").lower(), None)
        example = f" (the default is {default})" if default is not None else ""
        raise SettingsError(f"{name}={raw!r} is not accepted: expected a whole number{example}")
    return int(number)
