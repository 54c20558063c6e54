"""GET /dashboard: the people's view of the numbers, behind a login, served entirely by the collector.

Pages are static HTML with one script and one style sheet from /dashboard/static/; the only values put
into HTML are HTML-escaped. The API under /dashboard/api/ answers the page's script with JSON and
takes the session cookie, never a bearer token (those have /api/query).
"""

from __future__ import annotations

import hashlib
import html
import logging
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

import anyio.to_thread
import duckdb
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from collector.access import sessions
from collector.access.auth import Principal, audit, authenticate
from collector.access.challenge import AuthError, challenge
from collector.access.sessions import Session
from collector.access.users import verify_user
from collector.dashboard import report
from collector.errors import ClientError
from collector.settings import Settings
from collector.stats.filters import FIELDS, Filter
from collector.stats.filters import MAX_VALUE as MAX_FILTER
from collector.storage import store

log = logging.getLogger("collector.dashboard")
STATIC = Path(__file__).with_name("static")
MAX_FORM = 8 * 1024
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'; object-src 'none'"
)
PAGE_HEADERS = {"Content-Security-Policy": CSP, "Cache-Control": "no-store", "X-Frame-Options": "DENY"}
TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
SCOPES = ("stats:read", "admin")


def _asset(name: str) -> tuple[bytes, str]:
    data = (STATIC / name).read_bytes()
    return data, hashlib.sha256(data).hexdigest()[:16]


class Dashboard:
    """The routes of /dashboard for one app; `con` is the server's database (each call uses its own cursor)."""

    def __init__(self, settings: Settings, connection: Any) -> None:
        self.settings = settings
        self._connection = connection  # a callable giving the live DuckDB connection (None before start-up)
        self.assets = {p.name: _asset(p.name) for p in STATIC.iterdir() if p.suffix in TYPES}
        self.throttle = sessions.Throttle()

    def routes(self) -> list[Route]:
        return [
            Route("/dashboard", self.page, methods=["GET"]),
            Route("/dashboard/login", self.login_page, methods=["GET", "POST"]),
            Route("/dashboard/logout", self.logout, methods=["POST"]),
            Route("/dashboard/static/{name}", self.static, methods=["GET"]),
            Route("/dashboard/api/report", self.report_api, methods=["GET"]),
            Route("/dashboard/api/live", self.live_api, methods=["GET"]),
        ]

    # --- pages

    async def page(self, request: Request) -> Response:
        session = await self._session(request)
        if session is None:
            target = "/dashboard/login"
            if request.url.query:
                target += "?next=" + quote("/dashboard?" + request.url.query, safe="")
            return RedirectResponse(target, 303, headers={"Cache-Control": "no-store"})
        sites = [s.domain for s in self.settings.sites if session.principal.allows("stats:read", s.domain)]
        body = self._template(
            "dashboard.html",
            csrf=session.csrf,
            user=session.principal.name,
            sites="".join(f'<option value="{html.escape(s)}">{html.escape(s)}</option>' for s in sites),
        )
        return Response(body, media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)

    async def login_page(self, request: Request) -> Response:
        # One route for both methods, so a 405 lists them both in Allow.
        return await (self.login(request) if request.method == "POST" else self.login_form(request))

    async def login_form(self, request: Request, error: str = "", status: int = 200) -> Response:
        nonce = secrets.token_urlsafe(24)
        next_url = sessions.safe_next(request.query_params.get("next"))
        body = self._template(
            "login.html",
            csrf=nonce,
            next=next_url,
            error=f'<p class="error" role="alert">{html.escape(error)}</p>' if error else "",
        )
        headers = PAGE_HEADERS | challenge(status)
        response = Response(body, status, media_type="text/html; charset=utf-8", headers=headers)
        self._cookie(request, response, sessions.LOGIN_COOKIE, nonce, max_age=3600, path="/dashboard/login")
        return response

    async def login(self, request: Request) -> Response:
        form = await _form(request)
        if form is None or not sessions.same_origin(request):
            return JSONResponse(
                {"error": "this form must be sent from the dashboard's own page", "field": "origin"}, 403
            )
        if not sessions.same(form.get("csrf"), request.cookies.get(sessions.LOGIN_COOKIE)):
            return await self.login_form(request, "The form expired; please try again.", 403)
        name, password, token = form.get("user", "").strip(), form.get("password", ""), form.get("token", "").strip()
        if not token and not (name and password):
            return await self.login_form(request, "Enter a user name and password, or an API token.", 400)
        account = sessions.account_of(name, token)
        if self.throttle.blocked(account):
            response = await self.login_form(request, "Too many failed attempts; try again in 15 minutes.", 429)
            response.headers["Retry-After"] = str(int(self.throttle.WINDOW.total_seconds()))
            return response
        principal, kind = await anyio.to_thread.run_sync(self._check, name, password, token)
        if principal is None:
            self.throttle.failed(account)
            return await self.login_form(request, "That did not work: check the name, password or token.", 401)
        self.throttle.succeeded(account)
        secret = await anyio.to_thread.run_sync(self._start, principal, kind)
        response = RedirectResponse(sessions.safe_next(form.get("next")), 303, headers={"Cache-Control": "no-store"})
        self._cookie(request, response, sessions.COOKIE, secret, max_age=int(sessions.LIFETIME.total_seconds()))
        response.delete_cookie(sessions.LOGIN_COOKIE, path="/dashboard/login")
        return response

    async def logout(self, request: Request) -> Response:
        form = await _form(request)
        session = await self._session(request)
        if (
            form is None
            or not sessions.same_origin(request)
            or session is None
            or not sessions.same(form.get("csrf"), session.csrf)
        ):
            return JSONResponse({"error": "the logout form is not valid for this session", "field": "csrf"}, 403)
        secret = request.cookies.get(sessions.COOKIE)
        await anyio.to_thread.run_sync(self._end, secret, session)
        response = RedirectResponse("/dashboard/login", 303)
        response.delete_cookie(sessions.COOKIE, path=sessions.PATH)
        return response

    async def static(self, request: Request) -> Response:
        found = self.assets.get(request.path_params["name"])
        if found is None:
            return JSONResponse({"error": "no such file", "field": "name"}, 404)
        data, etag = found
        headers = {"ETag": f'"{etag}"', "Cache-Control": "no-cache"}
        if request.headers.get("if-none-match") == f'"{etag}"':
            return Response(status_code=304, headers=headers)
        suffix = Path(request.path_params["name"]).suffix
        return Response(data, media_type=TYPES[suffix], headers=headers)

    # --- the page's API

    async def report_api(self, request: Request) -> Response:
        params = dict(request.query_params)
        session, site, error = await self._allowed(request, params)
        if error is not None:
            return error
        assert session is not None and site is not None
        try:
            period = report.period_of(params)
            filters = report.filters_of(params, request.query_params.getlist("filter"))
        except ClientError as exc:
            return JSONResponse(exc.as_json(), exc.status)
        compare = params.get("compare", "1") not in ("0", "false", "")
        body = await anyio.to_thread.run_sync(self._build, session, site, period, filters, compare)
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    async def live_api(self, request: Request) -> Response:
        params = dict(request.query_params)
        _, site, error = await self._allowed(request, params)
        if error is not None:
            return error
        assert site is not None
        body = await anyio.to_thread.run_sync(self._read, report.live, site)
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    # --- helpers

    async def _session(self, request: Request) -> Session | None:
        secret = request.cookies.get(sessions.COOKIE)
        if not secret:
            return None
        return await anyio.to_thread.run_sync(self._read, lambda c, _s, x: sessions.lookup(c, x), secret)

    async def _allowed(
        self, request: Request, params: dict[str, str]
    ) -> tuple[Session | None, str | None, Response | None]:
        session = await self._session(request)
        if session is None:
            error = {"error": "log in first (/dashboard/login)", "field": "session"}
            return None, None, JSONResponse(error, 401, challenge(401))
        site = params.get("site") or (self.settings.sites[0].domain if self.settings.sites else "")
        if self.settings.site(site) is None:
            return session, None, JSONResponse({"error": f"site {site!r} is not registered", "field": "site"}, 400)
        if not session.principal.allows("stats:read", site):
            return session, None, JSONResponse({"error": f"no access to site {site}", "field": "site"}, 403)
        return session, site, None

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        con = self._connection()
        if con is None:
            raise AuthError(503, "the collector is starting")
        return store.cursor(con)

    def _read(self, fn: Any, *args: Any) -> Any:
        cursor = self._cursor()
        try:
            return fn(cursor, self.settings, *args)
        finally:
            cursor.close()

    def _build(
        self, session: Session, site: str, period: report.Period, filters: tuple[Filter, ...], compare: bool
    ) -> Any:
        cursor = self._cursor()
        try:
            return report.build(cursor, self.settings, site, period, filters, compare)
        finally:
            cursor.close()

    def _check(self, name: str, password: str, token: str) -> tuple[Principal | None, str]:
        cursor = self._cursor()
        try:
            if token:
                try:
                    principal: Principal | None = authenticate(cursor, f"Bearer {token}")
                except AuthError:
                    audit(cursor, "(invalid token)", "dashboard:login", None, "token", "denied")
                    return None, "token"
                assert principal is not None
                if not any(principal.allows(s) for s in SCOPES):
                    audit(cursor, principal.name, "dashboard:login", None, "token", "denied: no stats:read")
                    return None, "token"
                audit(cursor, principal.name, "dashboard:login", None, "token", "allowed")
                return principal, "token"
            principal = verify_user(cursor, name, password)
            # A failed user name is not written down as given: it may be a password typed in the wrong field.
            audit(cursor, principal.name if principal else "(unknown user)", "dashboard:login", None, "user",
                  "allowed" if principal else "denied")  # fmt: skip
            return principal, "user"
        finally:
            cursor.close()

    def _start(self, principal: Principal, kind: str) -> str:
        cursor = self._cursor()
        try:
            secret, _ = sessions.create(cursor, principal, kind)
            return secret
        finally:
            cursor.close()

    def _end(self, secret: str | None, session: Session) -> None:
        cursor = self._cursor()
        try:
            sessions.end(cursor, secret)
            audit(cursor, session.principal.name, "dashboard:logout", None, session.kind, "ok")
        finally:
            cursor.close()

    def _template(self, name: str, **values: str) -> bytes:
        text = (STATIC / name).read_text(encoding="utf-8")
        for key, value in values.items():
            text = text.replace("{{" + key + "}}", value if key in ("error", "sites") else html.escape(value))
        versions = {n: etag for n, (_, etag) in self.assets.items()}
        for asset, etag in versions.items():
            text = text.replace(f"/dashboard/static/{asset}", f"/dashboard/static/{asset}?v={etag}")
        return text.encode()

    def _cookie(
        self, request: Request, response: Response, name: str, value: str, max_age: int, path: str = sessions.PATH
    ) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path=path,
            httponly=True,
            secure=request.url.scheme == "https",
            samesite="strict",
        )


async def _form(request: Request) -> dict[str, str] | None:
    """An application/x-www-form-urlencoded body, or None when it is another type or too large."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        return None
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            return None
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20))
    except (UnicodeDecodeError, ValueError):
        return None


def _op(summary: str, op_id: str, responses: dict[str, Any], parameters: list[Any] | None = None) -> dict[str, Any]:
    """One operation of the dashboard: cookie-authenticated (no bearer token), so `security` is empty."""
    op: dict[str, Any] = {"summary": summary, "operationId": op_id, "tags": ["dashboard"], "security": []}
    if parameters:
        op["parameters"] = parameters
    op["responses"] = responses
    return op


def _query(name: str, description: str, **schema: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": {"type": "string"} | schema,
    }


_HTML = {"content": {"text/html": {"schema": {"type": "string"}}}}
_JSON_ERROR = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
_REPORT_PARAMS = [
    _query("site", "A registered site the session may see"),
    _query("period", "today, 7d, 30d (default), 90d or custom", enum=["today", "7d", "30d", "90d", "custom"]),
    _query("from", "First day of a custom period, YYYY-MM-DD", format="date"),
    _query("to", "Last day of a custom period, YYYY-MM-DD", format="date"),
    _query("compare", "0 leaves out the previous period", enum=["0", "1"]),
    {
        "name": "filter",
        "in": "query",
        "required": False,
        "description": "Filter expression, repeatable (AND): FIELD==VALUE, FIELD!=VALUE or FIELD~VALUE (contains); "
        "FIELD is a field below or prop:KEY",
        "style": "form",
        "explode": True,
        "schema": {"type": "array", "items": {"type": "string"}},
    },
    *(
        _query(name, f"Keep only this {f.what} (filter={name}==VALUE)", maxLength=MAX_FILTER)
        for name, f in FIELDS.items()
    ),
]
OPENAPI_PATHS: dict[str, Any] = {
    "/dashboard": {
        "get": _op(
            "The dashboard page (HTML); without a session, a redirect to the login",
            "dashboard",
            {"200": {"description": "The page"} | _HTML, "303": {"description": "Log in first"}},
        )
    },
    "/dashboard/login": {
        "get": _op("The login form (HTML)", "dashboardLoginForm", {"200": {"description": "The form"} | _HTML}),
        "post": _op(
            "Log in with a user name and password or an API token (form fields; CSRF value required)",
            "dashboardLogin",
            {
                "303": {"description": "Logged in: a session cookie, and a redirect to the dashboard"},
                "400": {"description": "A field is missing (the form again)"} | _HTML,
                "401": {"description": "Wrong name, password or token (the form again)"} | _HTML,
                "429": {"description": "Too many failed attempts for this account (the form again)"} | _HTML,
                "403": {
                    "description": "Not sent from the collector's own login form",
                    "content": _HTML["content"] | _JSON_ERROR["content"],
                },
            },
        ),
    },
    "/dashboard/logout": {
        "post": _op(
            "End the session (form field csrf)",
            "dashboardLogout",
            {
                "303": {"description": "Logged out"},
                "403": {"description": "No session or a wrong CSRF token"} | _JSON_ERROR,
            },
        )
    },
    "/dashboard/static/{name}": {
        "get": _op(
            "The page's script, style sheet and icon",
            "dashboardStatic",
            {
                "200": {
                    "description": "The file",
                    "content": {t.split(";")[0]: {"schema": {"type": "string"}} for t in TYPES.values()},
                },
                "304": {"description": "Not modified (If-None-Match)"},
                "404": {"description": "No such file"} | _JSON_ERROR,
            },
            [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}],
        )
    },
    "/dashboard/api/report": {
        "get": _op(
            "Every panel of the dashboard for a site, period and filters (session cookie)",
            "dashboardReport",
            {
                "200": {
                    "description": "Panels as {columns, rows}, server times in ms",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                "400": {"description": "A bad parameter; field names it"} | _JSON_ERROR,
                "401": {"description": "No session"} | _JSON_ERROR,
                "403": {"description": "The session may not see this site"} | _JSON_ERROR,
            },
            _REPORT_PARAMS,
        )
    },
    "/dashboard/api/live": {
        "get": _op(
            "Visitors, page views and events of the last 5 minutes (session cookie)",
            "dashboardLive",
            {
                "200": {"description": "Counts", "content": {"application/json": {"schema": {"type": "object"}}}},
                "400": {"description": "The site is not registered"} | _JSON_ERROR,
                "401": {"description": "No session"} | _JSON_ERROR,
                "403": {"description": "The session may not see this site"} | _JSON_ERROR,
            },
            _REPORT_PARAMS[:1],
        )
    },
}
