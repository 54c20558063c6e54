"""The small HTML and JS the collector serves itself: the demo page and the snippet."""

from __future__ import annotations

import base64
import hashlib

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from collector.http.snippet import CACHE_CONTROL, Snippet, etag_matches

_STYLE = "body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}"
_STYLE_HASH = "sha256-" + base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()
DEMO_CSP = (
    f"default-src 'none'; script-src 'self'; connect-src 'self'; style-src '{_STYLE_HASH}'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'; object-src 'none'"
)
_DEMO = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>collector demo</title>
<style>{style}</style>
</head>
<body>
<h1>collector is running</h1>
<p>This page embeds the snippet, so opening it records a page view for the site <code>{site}</code>.
Run <code>.venv/bin/collector status</code> in the clone (or <code>collector status</code> where it is installed)
to see it counted. A headless or automated browser (one with <code>navigator.webdriver</code> set) is counted
under the drop reason <code>automation</code>, not as a visit.</p>
<p>Embed it on your own site with:</p>
<pre>&lt;script defer src="http://{host}/js/collector.js" data-site="example.com"&gt;&lt;/script&gt;</pre>
<script defer src="/js/collector.js" data-site="{site}" data-allow-local></script>
</body>
</html>
"""


def demo_page(request: Request, site: str) -> HTMLResponse:
    host = request.headers.get("host", "127.0.0.1:8000").replace("<", "").replace(">", "").replace('"', "")
    return HTMLResponse(
        _DEMO.replace("{style}", _STYLE).replace("{site}", site).replace("{host}", host),
        headers={"Content-Security-Policy": DEMO_CSP, "Cache-Control": "no-store"},
    )


def snippet_response(request: Request, snippet: Snippet) -> Response:
    form = snippet.form(request.headers.get("accept-encoding"))
    headers = {
        "Content-Type": "text/javascript; charset=utf-8",
        "Cache-Control": CACHE_CONTROL,
        "ETag": form.etag,  # strong, and one per encoding: each encoded body is its own representation
        "Vary": "Accept-Encoding",
        # Embedded by other origins: loadable cross-origin, and readable for the integrity check.
        "Cross-Origin-Resource-Policy": "cross-origin",
        "Access-Control-Allow-Origin": "*",
        "X-Content-Type-Options": "nosniff",
    }
    if etag_matches(request.headers.get("if-none-match"), form.etag):
        return Response(status_code=304, headers=headers)
    if form.encoding:
        headers["Content-Encoding"] = form.encoding
    return Response(form.body, headers=headers)
