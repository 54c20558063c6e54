"""Settings: a TOML file, then COLLECTOR_* environment variables, then command-line flags."""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

CONFIG_FILE_NAME = "collector.toml"


class ConfigError(Exception):
    """A configuration that cannot be used; the message says what and where."""


@dataclass(frozen=True, slots=True)
class Site:
    domain: str
    origins: tuple[str, ...]
    k_anonymity: int = 5
    gpc_mode: str = "anonymous"  # "anonymous" keeps GPC/DNT events without any id; "drop" refuses them
    umami_website_id: str | None = None  # the Umami website id its tags send (docs/migrate.md)
    matomo_site_id: int | None = None  # the Matomo idsite its tags send
    server_side: bool = False  # accept requests with neither Origin nor Referer (server-side senders)
    ids_after_consent: bool = False  # the Matomo/Umami visitor ids it sends are sent only after consent
    goals: tuple[Goal, ...] = ()  # [[sites.goals]]: the dashboard's goals panel
    funnels: tuple[Funnel, ...] = ()  # [[sites.funnels]]: the dashboard's funnel panels


@dataclass(frozen=True, slots=True)
class Goal:
    """A conversion goal: `/path` (a page view of it) or `event:NAME` (that custom event)."""

    name: str
    goal: str


@dataclass(frozen=True, slots=True)
class Funnel:
    name: str
    steps: tuple[str, ...]  # 2 to 8 goals, in order


@dataclass(frozen=True, slots=True)
class Retention:
    """Days each kind of row is kept; anonymous aggregates (daily_counts, drops, scrubbed, ...) are not purged."""

    events_days: int = 395
    profiles_days: int = 395
    requests_days: int = 1095


@dataclass(frozen=True, slots=True)
class Privacy:
    default_country_code: str | None = None  # for national phone numbers given to /api/identify, e.g. "84"
    request_due_days: int = 15


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path("data")
    max_body_bytes: int = 16 * 1024
    max_batch_events: int = 100
    writer_batch_events: int = 20_000
    salt_grace_hours: int = 2
    encrypt: bool = True
    log_level: str = "info"
    trusted_proxies: tuple[str, ...] = ()
    rate_limit_site_per_second: float = 2000.0
    rate_limit_site_burst: int = 20000
    rate_limit_client_per_second: float = 20.0
    rate_limit_client_burst: int = 200
    csp_reports_client_per_minute: float = 60.0  # CSP reports from one client (address and User-Agent)
    csp_reports_site_per_minute: float = 3000.0  # CSP reports for one site; each is also the burst
    csp_max_body_bytes: int = 64 * 1024
    sink: str = ""  # "" = the embedded DuckDB; "nats://host:4222[,...]" = an ingest-only node (docs/scale-out.md)
    stream_replicas: int = 3
    database_memory_mb: int = 256  # DuckDB's memory limit; larger sorts and joins spill to disk
    sites: tuple[Site, ...] = field(default_factory=tuple)
    retention: Retention = field(default_factory=Retention)
    privacy: Privacy = field(default_factory=Privacy)
    config_file: Path | None = None

    @property
    def database_path(self) -> Path:
        return self.data_dir / "collector.duckdb"

    @property
    def journal_path(self) -> Path:
        return self.data_dir / "journal"

    @property
    def key_path(self) -> Path:
        return self.data_dir / "collector.key"

    @property
    def socket_path(self) -> Path:
        return self.data_dir / "collector.sock"

    def site(self, domain: str) -> Site | None:
        domain = domain.lower()
        for site in self.sites:
            if site.domain == domain:
                return site
        return None


_ENV_KEYS = (
    "host",
    "port",
    "data_dir",
    "max_body_bytes",
    "max_batch_events",
    "writer_batch_events",
    "salt_grace_hours",
    "encrypt",
    "log_level",
    "trusted_proxies",
    "rate_limit_site_per_second",
    "rate_limit_site_burst",
    "rate_limit_client_per_second",
    "rate_limit_client_burst",
    "csp_reports_client_per_minute",
    "csp_reports_site_per_minute",
    "csp_max_body_bytes",
    "sink",
    "stream_replicas",
    "database_memory_mb",
)


def load_settings(
    config_file: str | Path | None = None,
    env: dict[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Build settings from an optional TOML file, COLLECTOR_* variables and explicit overrides (in that order)."""
    env = dict(os.environ) if env is None else env
    path = _find_config(config_file, env)
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    for key in _ENV_KEYS:
        value = env.get(f"COLLECTOR_{key.upper()}")
        if value is not None and value != "":
            raw[key] = value
    for key, value in overrides.items():
        if value is not None:
            raw[key] = value
    return _build(raw, path)


def _find_config(config_file: str | Path | None, env: dict[str, str]) -> Path | None:
    if config_file:
        return Path(config_file)
    if env.get("COLLECTOR_CONFIG"):
        return Path(env["COLLECTOR_CONFIG"])
    local = Path(CONFIG_FILE_NAME)
    return local if local.is_file() else None


def _build(raw: dict[str, Any], path: Path | None) -> Settings:
    where = f"config file {path}" if path else "settings"
    unknown = sorted(set(raw) - set(_ENV_KEYS) - {"sites", *_SECTIONS})
    if unknown:
        raise ConfigError(f"{where}: unknown setting(s) {', '.join(unknown)}")
    values: dict[str, Any] = {"config_file": path}
    for key in _ENV_KEYS:
        if key in raw:
            values[key] = _coerce(key, raw[key], where)
    values["retention"] = _section(Retention, raw.get("retention"), "retention", where)
    values["privacy"] = _section(Privacy, raw.get("privacy"), "privacy", where)
    settings = Settings(**values)
    for kind in ("site", "client"):
        if getattr(settings, f"rate_limit_{kind}_per_second") > 0 and getattr(settings, f"rate_limit_{kind}_burst") < 1:
            raise ConfigError(f"{where}: rate_limit_{kind}_burst must be at least 1 when the limit is on")
    sites = raw.get("sites")
    sites_tuple: tuple[Site, ...]
    if sites is None:
        sites_tuple = (_demo_site(settings.port),)
    else:
        if not isinstance(sites, list) or not sites:
            raise ConfigError(f"{where}: [[sites]] must be a non-empty list of tables")
        sites_tuple = tuple(_site(item, where) for item in sites)
        domains = [s.domain for s in sites_tuple]
        if len(set(domains)) != len(domains):
            raise ConfigError(f"{where}: a site domain is registered twice")
        for key in ("umami_website_id", "matomo_site_id"):
            ids = [v for s in sites_tuple if (v := getattr(s, key)) is not None]
            if len(set(ids)) != len(ids):
                raise ConfigError(f"{where}: two sites have the same {key}")
    return replace(settings, sites=sites_tuple)


_SECTIONS = ("retention", "privacy")


def _section(cls: Any, table: Any, name: str, where: str) -> Any:
    """A [retention] or [privacy] table: known keys only, positive integer days, digits for a calling code."""
    if table is None:
        return cls()
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: [{name}] must be a table")
    known = set(cls.__dataclass_fields__)
    unknown = sorted(set(table) - known)
    if unknown:
        raise ConfigError(f"{where}: [{name}] unknown key(s) {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key == "default_country_code":
            text = str(value).lstrip("+")
            if not (text.isdigit() and 1 <= len(text) <= 3):
                raise ConfigError(f'{where}: [{name}] {key} must be a calling code such as "84"')
            values[key] = text
        elif isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{where}: [{name}] {key} must be a positive whole number of days")
        else:
            values[key] = value
    return cls(**values)


def _demo_site(port: int) -> Site:
    return Site(
        domain="localhost",
        origins=(f"http://localhost:{port}", f"http://127.0.0.1:{port}"),
        k_anonymity=1,
    )


def _coerce(key: str, value: Any, where: str) -> Any:
    try:
        numbers: tuple[str, ...] = ("port", "max_body_bytes", "max_batch_events", "writer_batch_events")
        numbers = (*numbers, "salt_grace_hours", "csp_max_body_bytes")
        if key in (*numbers, "stream_replicas", "rate_limit_site_burst", "rate_limit_client_burst"):
            number = int(value)
            if number < 0 or (key == "port" and number > 65535):
                raise ValueError(value)
            return number
        if key == "database_memory_mb":
            if int(value) < 16:
                raise ConfigError(f"{where}: database_memory_mb must be a whole number of MB, at least 16")
            return int(value)
        if key in (
            "rate_limit_site_per_second",
            "rate_limit_client_per_second",
            "csp_reports_client_per_minute",
            "csp_reports_site_per_minute",
        ):
            rate = float(value)
            if not rate >= 0 or rate == float("inf"):
                raise ValueError(value)
            return rate
        if key == "encrypt":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text not in ("1", "0", "true", "false", "yes", "no"):
                raise ValueError(value)
            return text in ("1", "true", "yes")
        if key == "data_dir":
            return Path(str(value))
        if key == "trusted_proxies":
            items = value if isinstance(value, list) else str(value).split(",")
            proxies = tuple(str(i).strip() for i in items if str(i).strip())
            for proxy in proxies:
                ipaddress.ip_network(proxy, strict=False)
            return proxies
        if key == "log_level":
            level = str(value).lower()
            if level not in ("debug", "info", "warning", "error"):
                raise ValueError(value)
            return level
        return str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: {key} has an invalid value {value!r}") from None


def _site(item: Any, where: str) -> Site:
    if not isinstance(item, dict):
        raise ConfigError(f"{where}: each [[sites]] entry must be a table")
    domain = item.get("domain")
    if not isinstance(domain, str) or not domain.strip():
        raise ConfigError(f"{where}: a [[sites]] entry has no domain")
    origins = item.get("origins", [])
    if not isinstance(origins, list) or not all(isinstance(o, str) for o in origins):
        raise ConfigError(f"{where}: site {domain}: origins must be a list of strings")
    normalized = tuple(_origin(o, domain, where) for o in origins)
    if not normalized:
        raise ConfigError(f"{where}: site {domain}: at least one origin is required")
    k = item.get("k_anonymity", 5)
    if not isinstance(k, int) or k < 1:
        raise ConfigError(f"{where}: site {domain}: k_anonymity must be a positive integer")
    gpc_mode = item.get("gpc_mode", "anonymous")
    if gpc_mode not in ("anonymous", "drop"):
        raise ConfigError(f"{where}: site {domain}: gpc_mode must be 'anonymous' or 'drop'")
    unknown = sorted(set(item) - {"domain", "origins", "k_anonymity", "gpc_mode", "goals", "funnels", *_DOOR_KEYS})
    if unknown:
        raise ConfigError(f"{where}: site {domain}: unknown key(s) {', '.join(unknown)}")
    doors = _doors(item, domain, where)
    goals, funnels = _goals(item, f"{where}: site {domain}")
    return Site(
        domain=domain.strip().lower(),
        origins=normalized,
        k_anonymity=k,
        gpc_mode=gpc_mode,
        goals=goals,
        funnels=funnels,
        **doors,
    )


def _goal_text(value: Any, where: str) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not (text.startswith("/") or (text.startswith("event:") and text[6:].strip())) or len(text) > 300:
        raise ConfigError(f"{where}: {value!r} is not a goal: a path (/thank-you) or event:NAME (event:signup)")
    return text


def _goals(item: dict[str, Any], where: str) -> tuple[tuple[Goal, ...], tuple[Funnel, ...]]:
    """[[sites.goals]] (name, goal) and [[sites.funnels]] (name, steps: 2 to 8 goals)."""
    goals, funnels = [], []
    for kind in ("goals", "funnels"):
        entries = item.get(kind, [])
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise ConfigError(f"{where}: [[sites.{kind}]] must be a list of tables")
        for entry in entries:
            name = entry.get("name")
            if not isinstance(name, str) or not name.strip():
                raise ConfigError(f"{where}: each [[sites.{kind}]] entry needs a name")
            field = "goal" if kind == "goals" else "steps"
            if unknown := sorted(set(entry) - {"name", field}):
                raise ConfigError(f"{where}: {kind[:-1]} {name}: unknown key(s) {', '.join(unknown)}")
            if kind == "goals":
                goals.append(Goal(name.strip(), _goal_text(entry.get("goal"), f"{where}: goal {name}")))
                continue
            steps = entry.get("steps")
            if not isinstance(steps, list) or not 2 <= len(steps) <= 8:
                raise ConfigError(f"{where}: funnel {name}: steps must be a list of 2 to 8 goals")
            funnels.append(Funnel(name.strip(), tuple(_goal_text(s, f"{where}: funnel {name}") for s in steps)))
    return tuple(goals), tuple(funnels)


_DOOR_KEYS = ("umami_website_id", "matomo_site_id", "server_side", "ids_after_consent")


def _doors(item: dict[str, Any], domain: str, where: str) -> dict[str, Any]:
    """A site's keys for the Plausible, Umami and Matomo doors (docs/migrate.md)."""
    umami = item.get("umami_website_id")
    if umami is not None and not (isinstance(umami, str) and re.fullmatch(r"[0-9A-Fa-f-]{32,36}", umami.strip())):
        raise ConfigError(f'{where}: site {domain}: umami_website_id must be a UUID such as "2f9a…-…"')
    matomo = item.get("matomo_site_id")
    if matomo is not None and (isinstance(matomo, bool) or not isinstance(matomo, int) or matomo < 1):
        raise ConfigError(f"{where}: site {domain}: matomo_site_id must be a positive whole number")
    flags = {}
    for key in ("server_side", "ids_after_consent"):
        value = item.get(key, False)
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: site {domain}: {key} must be true or false")
        flags[key] = value
    return {"umami_website_id": umami.strip().lower() if umami else None, "matomo_site_id": matomo, **flags}


def _origin(value: str, domain: str, where: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        raise ConfigError(f"{where}: site {domain}: {value!r} is not an origin like https://example.com")
    return f"{parts.scheme}://{parts.netloc.lower()}"
