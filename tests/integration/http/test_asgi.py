from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from collector.http.asgi import App, Direct, query_map, respond
from collector.http.bodies import BodyTimeouts


@contextmanager
def serving(app: ASGIApp) -> Iterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


class Tag:
    """A middleware that marks every answer it sees."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def tagged(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-middleware", b"yes")]
            await send(message)

        await self.app(scope, receive, tagged)


async def hello(scope: Scope, receive: Receive, send: Send) -> None:
    await respond(send, 200, [(b"content-type", b"text/plain")], b"direct")


async def broken(scope: Scope, receive: Receive, send: Send) -> None:
    raise RuntimeError("a bug")


async def routed(request: Request) -> Response:
    return PlainTextResponse("routed")


def app() -> App:
    return App(
        direct=[Direct("/direct", frozenset({"GET"}), hello), Direct("/broken", frozenset({"GET"}), broken)],
        routes=[Route("/routed", routed)],
        middleware=[Middleware(Tag)],
    )


def test_direct_routes_skip_middleware_but_keep_security_headers() -> None:
    with serving(app()) as url:
        r = httpx.get(url + "/direct")
        assert (r.status_code, r.text) == (200, "direct")
        assert "x-middleware" not in r.headers
        assert r.headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]


def test_other_paths_go_through_starlette() -> None:
    with serving(app()) as url:
        r = httpx.get(url + "/routed")
        assert (r.status_code, r.text, r.headers["x-middleware"]) == (200, "routed", "yes")
        assert httpx.get(url + "/direct/more").status_code == 404


def test_an_unexpected_error_in_a_direct_route_is_a_json_500() -> None:
    with serving(app()) as url:
        r = httpx.get(url + "/broken")
        assert r.status_code == 500
        assert r.json() == {"error": "internal error", "field": None}
        assert r.headers["x-content-type-options"] == "nosniff"


def test_body_timeouts_cut_a_slow_body_and_spare_a_prompt_one() -> None:
    timeouts = BodyTimeouts(0.5)

    async def echo(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            body = await timeouts.read(receive, 1000)
        except TimeoutError:
            await respond(send, 408, [])
            return
        await respond(send, 200, [], body or b"")

    with serving(App(direct=[Direct("/echo", frozenset({"POST"}), echo)])) as url:
        assert httpx.post(url + "/echo", content=b"prompt").text == "prompt"
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as sock:
            sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nslow")
            sock.settimeout(5)
            assert sock.recv(4096).startswith(b"HTTP/1.1 408")
        assert httpx.post(url + "/echo", content=b"again").text == "again"
        assert timeouts.reading == {}


def test_query_map_reads_parameters_as_starlette_does() -> None:
    from starlette.datastructures import QueryParams

    for query in (b"site=a.com&visitor=v-1", b"a=1&a=2&b=&c", b"q=caf%C3%A9+au+lait&x=%zz", b"", b"&&a=b=c"):
        params = QueryParams(query.decode("latin-1"))
        assert query_map({"query_string": query}) == {k: params[k] for k in params}, query
