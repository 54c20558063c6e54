"""Dashboard sessions: a random secret in an HttpOnly, SameSite=Strict cookie; only its SHA-256 is stored.

The CSRF token of a session is an HMAC of its secret, so it needs no storage and dies with the session.
Before login there is no session: the login form carries a random value that must equal a short-lived
cookie of the same name (double submit), and every POST must come from the collector's own origin.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import duckdb
from starlette.requests import Request

from collector.access.auth import Principal

COOKIE = "collector_session"
LOGIN_COOKIE = "collector_login"
LIFETIME = timedelta(hours=12)
PATH = "/dashboard"


@dataclass(frozen=True, slots=True)
class Session:
    principal: Principal
    kind: str  # "user" or "token"
    expires_at: datetime
    csrf: str


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def csrf_of(secret: str) -> str:
    return hmac.new(secret.encode(), b"dashboard csrf", hashlib.sha256).hexdigest()


def create(
    con: duckdb.DuckDBPyConnection, principal: Principal, kind: str, now: datetime | None = None
) -> tuple[str, Session]:
    """Store a new session; return the cookie's secret (never stored) and the session."""
    now = now or _now()
    secret = secrets.token_urlsafe(32)
    expires = now + LIFETIME
    token_id = principal.token_id if kind == "token" else None
    con.execute("DELETE FROM dashboard_sessions WHERE expires_at <= ?", [now])
    con.execute(
        "INSERT INTO dashboard_sessions VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            _hash(secret),
            principal.name,
            kind,
            token_id,
            sorted(principal.scopes),
            sorted(principal.sites) if principal.sites is not None else None,
            now,
            expires,
        ],
    )
    return secret, Session(principal, kind, expires, csrf_of(secret))


def lookup(con: duckdb.DuckDBPyConnection, secret: str | None, now: datetime | None = None) -> Session | None:
    """The live session for a cookie: not expired, its token not revoked, its user not removed or disabled."""
    if not secret or len(secret) > 100:
        return None
    row = con.execute(
        """
        SELECT s.principal, s.kind, s.token_id, s.scopes, s.sites, s.expires_at
        FROM dashboard_sessions s
        LEFT JOIN tokens t ON s.kind = 'token' AND t.token_id = s.token_id AND t.revoked_at IS NULL
        LEFT JOIN users u ON s.kind = 'user' AND u.name = s.principal AND u.disabled_at IS NULL
        WHERE s.secret_hash = ? AND s.expires_at > ? AND coalesce(t.token_id, u.name) IS NOT NULL
        """,
        [_hash(secret), now or _now()],
    ).fetchone()
    if row is None:
        return None
    name, kind, token_id, scopes, sites, expires = row
    principal = Principal(
        token_id or f"user:{name}", name, frozenset(scopes), frozenset(sites) if sites is not None else None
    )
    return Session(principal, kind, expires, csrf_of(secret))


def end(con: duckdb.DuckDBPyConnection, secret: str | None) -> None:
    if secret:
        con.execute("DELETE FROM dashboard_sessions WHERE secret_hash = ?", [_hash(secret)])


def same(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))


def same_origin(request: Request) -> bool:
    """A POST from our own page: Sec-Fetch-Site and Origin (when the browser sends them) name this origin.

    Under `Referrer-Policy: no-referrer` a browser sends `Origin: null` even from our own page; then only
    `Sec-Fetch-Site: same-origin` (which no page's script can set) vouches for it.
    """
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site not in (None, "same-origin"):
        return False
    origin = request.headers.get("origin")
    if origin == "null":
        return fetch_site == "same-origin"
    return origin is None or urlsplit(origin).netloc == request.headers.get("host", "")


def safe_next(value: str | None) -> str:
    """Only a path of the dashboard itself: never another host (no open redirect)."""
    if value and (value == "/dashboard" or value.startswith("/dashboard?")) and "\\" not in value:
        return value
    return "/dashboard"


class Throttle:
    """Failed logins per account (a user name, or a token's id): after LIMIT in WINDOW, refuse until it passes.

    Kept in memory and keyed by a hash, so a password typed into the name field is never held. It slows a
    guesser on one account without an address (we keep none); argon2's cost slows them further.
    """

    LIMIT = 5
    WINDOW = timedelta(minutes=15)

    def __init__(self) -> None:
        self._failures: dict[bytes, list[datetime]] = {}

    def _recent(self, account: str, now: datetime) -> list[datetime]:
        key = _hash(account)
        times = [t for t in self._failures.get(key, []) if now - t < self.WINDOW]
        if times:
            self._failures[key] = times
        else:
            self._failures.pop(key, None)
        return times

    def blocked(self, account: str, now: datetime | None = None) -> bool:
        return len(self._recent(account, now or _now())) >= self.LIMIT

    def failed(self, account: str, now: datetime | None = None) -> None:
        now = now or _now()
        self._failures[_hash(account)] = [*self._recent(account, now), now]
        if len(self._failures) > 100_000:  # bound memory under a spray of names
            self._failures.clear()

    def succeeded(self, account: str) -> None:
        self._failures.pop(_hash(account), None)


def account_of(name: str, token: str) -> str:
    """What a login attempt is counted against: the token's id, or the user name."""
    if token:
        return "token:" + token.split("_")[1] if token.count("_") >= 2 else "token:?"
    return "user:" + name
