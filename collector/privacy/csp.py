"""Third-party tracker detection through Content-Security-Policy violation reports, and the header to send.

A site that sends the recommended header (first-party sources and the collector only) makes browsers
block every third-party script, pixel or frame and report it here; we count blocked hosts per site,
day, page and directive. Reports carry no visitor data we keep: the page is reduced to its scrubbed path.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlsplit

import duckdb
import orjson

from collector.errors import ClientError
from collector.ingest.pipeline.scrub import scrub_path
from collector.settings import Site

MEDIA_TYPES = ("application/csp-report", "application/reports+json", "application/json")
MAX_REPORTS = 100
_UPSERT = (
    "INSERT INTO third_parties VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT DO UPDATE SET reports = third_parties.reports + EXCLUDED.reports"
)
_write_lock = threading.Lock()


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
    if host in own_hosts or host == site.domain or host.endswith("." + site.domain):
        return True
    return any(urlsplit(origin).hostname == host for origin in site.origins)


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
    own = " ".join(["'self'", *site.origins])
    report = f"{collector}/api/csp-report?site={site.domain}"
    directives = [
        f"default-src {own}",
        f"script-src {own} {collector_origin}",
        f"connect-src {own} {collector_origin}",
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
