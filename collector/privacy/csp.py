"""Third-party tracker detection through Content-Security-Policy violation reports, and the header to send.

A site that sends the recommended header (first-party sources and the collector only) makes browsers
block every third-party script, pixel or frame and report it here; we count blocked hosts per site,
day, page and directive. Reports carry no visitor data we keep: the page is reduced to its scrubbed path.
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlsplit

import duckdb
import orjson

from collector.errors import ClientError
from collector.ingest.pipeline.hosts import on_site, origin_hosts
from collector.ingest.pipeline.scrub import scrub_path
from collector.ingest.ratelimit import TokenBucket, client_key
from collector.settings import Settings, Site

MEDIA_TYPES = ("application/csp-report", "application/reports+json", "application/json")
MAX_REPORTS = 100
_UPSERT = (
    "INSERT INTO third_parties VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT DO UPDATE SET reports = third_parties.reports + EXCLUDED.reports"
)
_write_lock = threading.Lock()


class TooManyReports(ClientError):
    """429: a client or a site sent more reports than its bucket holds; `retry_after` in whole seconds."""

    def __init__(self, limit: str, message: str, retry_after: int) -> None:
        super().__init__(f"{message}; retry after {retry_after} s", None, 429)
        self.limit = limit  # "client" or "site"
        self.retry_after = retry_after


class ReportLimits:
    """Token buckets for CSP reports, per client and per site, the body cap, and counts of what is refused.

    Reports need no token (browsers send them), so anyone can send them: the buckets keep one client
    or a flood for one site from filling the third_parties table. A client is a keyed hash of its address
    and User-Agent, as for ingest (collector.ingest.ratelimit). A rate of 0 turns that limit off.
    """

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.monotonic) -> None:
        self.client = _per_minute(settings.csp_reports_client_per_minute, clock)
        self.site = _per_minute(settings.csp_reports_site_per_minute, clock)
        self.max_body = settings.csp_max_body_bytes
        self.refused: Counter[str] = Counter()  # by reason: client, site, size, invalid
        self._key = secrets.token_bytes(16)

    def check_client(self, ip: str, user_agent: str) -> None:
        if self.client is not None and (wait := self.client.take(client_key(self._key, ip, user_agent))):
            raise TooManyReports("client", "this client sends too many CSP reports", max(1, math.ceil(wait)))

    def check_site(self, site: str, reports: int) -> None:
        if self.site is not None and (wait := self.site.take(site, max(1, reports))):
            raise TooManyReports("site", f"site {site} receives too many CSP reports", max(1, math.ceil(wait)))

    def count(self, refusal: ClientError) -> None:
        """Count a refused request under its reason."""
        if isinstance(refusal, TooManyReports):
            reason = refusal.limit
        elif refusal.status < 500:
            reason = "size" if refusal.status == 413 else "invalid"
        else:
            return  # the collector's fault (503), not the report's
        self.refused[reason] += 1


def _per_minute(rate: float, clock: Callable[[], float]) -> TokenBucket | None:
    """A bucket of `rate` reports a minute, with a burst of as many; None when the rate is 0."""
    return TokenBucket(rate / 60, max(1.0, rate), clock=clock) if rate > 0 else None


class ReportError(ClientError, ValueError):
    """A report body that cannot be read (400, field `body`)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "body")


@dataclass(frozen=True, slots=True)
class Violation:
    document_url: str
    blocked_url: str
    directive: str


def parse_reports(body: bytes) -> list[Violation]:
    """Both shapes: report-uri's {"csp-report": {...}} and the Reporting API's [{"type": "csp-violation", ...}]."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ReportError("body is not valid JSON") from None
    if isinstance(data, dict) and isinstance(data.get("csp-report"), dict):
        report = data["csp-report"]
        return [_violation(report, "document-uri", "blocked-uri", ("effective-directive", "violated-directive"))]
    if isinstance(data, list):
        if len(data) > MAX_REPORTS:
            raise ReportError(f"at most {MAX_REPORTS} reports per request")
        found = []
        for item in data:
            if isinstance(item, dict) and item.get("type") == "csp-violation" and isinstance(item.get("body"), dict):
                found.append(_violation(item["body"], "documentURL", "blockedURL", ("effectiveDirective",)))
        return found
    raise ReportError("body is neither a csp-report object nor a list of reports")


def _violation(report: dict[str, Any], doc_key: str, blocked_key: str, directive_keys: tuple[str, ...]) -> Violation:
    document = report.get(doc_key)
    blocked = report.get(blocked_key) or ""
    directive = next((report[k] for k in directive_keys if isinstance(report.get(k), str) and report[k]), "")
    if not isinstance(document, str) or not isinstance(blocked, str):
        raise ReportError(f"{doc_key} and {blocked_key} must be strings")
    return Violation(document[:2048], blocked[:2048], directive.split(" ", 1)[0][:64] or "unknown")


def _host(url: str) -> tuple[str, str] | None:
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
    except ValueError:
        return None
    return (parts.scheme.lower(), host) if host else None


def first_party(host: str, site: Site, own_hosts: frozenset[str]) -> bool:
    """The collector, the site's domain and its subdomains, and the hosts of its registered origins."""
    return host in own_hosts or on_site(host, site.domain, origin_hosts(site))


def third_party_counts(
    site: Site, violations: list[Violation], own_hosts: frozenset[str]
) -> Counter[tuple[str, str, str]]:
    """(page path, blocked host, directive) -> reports, for reports from the site's own pages naming another host."""
    origins = set(site.origins)
    counts: Counter[tuple[str, str, str]] = Counter()
    for v in violations:
        try:
            doc = urlsplit(v.document_url)
        except ValueError:
            continue
        if f"{doc.scheme}://{doc.netloc}".lower() not in origins:
            continue
        blocked = _host(v.blocked_url)
        if blocked is None or blocked[0] not in ("http", "https", "ws", "wss"):
            continue  # inline, eval, data:, blob: are not hosts
        if first_party(blocked[1], site, own_hosts):
            continue
        counts[(scrub_path(doc.path or "/", []), blocked[1], v.directive)] += 1
    return counts


def record(con: duckdb.DuckDBPyConnection, site: str, day: date, counts: Counter[tuple[str, str, str]]) -> None:
    if not counts:
        return
    with _write_lock:  # concurrent upserts of one key would conflict in DuckDB
        con.executemany(_UPSERT, [[site, day, page, host, d, n] for (page, host, d), n in counts.items()])


def recommended_header(site: Site, collector_url: str, report_only: bool = False) -> dict[str, str]:
    """Headers that allow only the site's own origins and the collector, and report violations to it."""
    collector = collector_url.rstrip("/")
    parts = urlsplit(collector)
    collector_origin = f"{parts.scheme}://{parts.netloc}"
    own = " ".join(dict.fromkeys(["'self'", *site.origins]))  # each source once
    with_collector = " ".join(dict.fromkeys(["'self'", *site.origins, collector_origin]))
    report = f"{collector}/api/csp-report?site={site.domain}"
    directives = [
        f"default-src {own}",
        f"script-src {with_collector}",
        f"connect-src {with_collector}",
        f"img-src {own} data:",
        f"style-src {own}",
        f"font-src {own}",
        f"frame-src {own}",
        "object-src 'none'",
        "base-uri 'self'",
        f"form-action {own}",
        "frame-ancestors 'self'",
        f"report-uri {report}",
        "report-to collector-csp",
    ]
    name = "Content-Security-Policy-Report-Only" if report_only else "Content-Security-Policy"
    return {name: "; ".join(directives), "Reporting-Endpoints": f'collector-csp="{report}"'}
