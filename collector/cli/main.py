"""The `collector` command. Commands that touch data go through the running server when there is one."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson

from collector.access import tokens
from collector.admin import channel as admin
from collector.admin.ops import OpError, run_op
from collector.durable.journal import Journal, Sealer
from collector.durable.process import journal_lock
from collector.identifiers.keys import KeyFileError, load_keys
from collector.privacy.commands import add_commands as add_privacy_commands
from collector.settings import ConfigError, Settings, load_settings
from collector.stats import formats
from collector.stats.queries import installed_queries
from collector.storage.batches import replay
from collector.storage.store import StoreError, migrate, open_database

Handler = Callable[[Settings, argparse.Namespace], int]


# A person waits at the prompt: enough for a journal process left by a killed server to finish its last
# fdatasync on a busy disk, without the 30 s a starting server allows.
LOCK_WAIT_SECONDS = 10.0


def run_anywhere(settings: Settings, name: str, args: dict[str, Any]) -> Any:
    """Run an operation in the server if one answers on the data dir's socket, else on the file directly."""
    try:
        return admin.call(settings, name, args)
    except admin.ServerUnavailable:
        pass
    keys = load_keys(settings.key_path, create=False) if settings.encrypt else None
    key = keys.database_key if keys else None
    con = open_database(settings.database_path, key)
    held: contextlib.AbstractContextManager[Journal | None] = contextlib.nullcontext()
    if settings.journal_path.exists():
        held = _locked_journal(settings.journal_path)
    try:
        migrate(con)
        with held as journal:
            if journal is not None:
                replay(con, journal, Sealer(key))  # events acknowledged before an unclean stop
            result = run_op(name, con, settings, args)
            if journal is not None and name in admin.SEALING_OPS:
                journal.rotate()  # everything is loaded: the older segments can go (see Writer.seal_off)
                journal.drop_older()
            return result
    finally:
        con.close()


@contextlib.contextmanager
def _locked_journal(folder: Path) -> Iterator[Journal]:
    """The journal under the lock its appenders hold, so no append is still under way while the CLI reads it."""
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(journal_lock(folder, LOCK_WAIT_SECONDS))
        except TimeoutError as exc:
            raise StoreError(f"{exc} (is a collector server or its journal process still running?)") from None
        journal = Journal(folder)
        stack.callback(journal.close)
        yield journal


def _serve(settings: Settings, ns: argparse.Namespace) -> int:
    if settings.sink:
        from collector.scaleout.node import serve_ingest

        return serve_ingest(settings)
    from collector.http.server import serve

    return serve(settings)


def _load(settings: Settings, ns: argparse.Namespace) -> int:
    from collector.scaleout.loader import run_load

    return run_load(settings, ns.source)


def _status(settings: Settings, ns: argparse.Namespace) -> int:
    result = run_anywhere(settings, "status", {})
    if ns.json:
        print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
        return 0
    print(f"database: {result['database']} (schema {result['schema_version']})")
    print(f"registered sites: {', '.join(result['registered_sites'])}")
    for row in result["sites"]:
        print(f"  {row['site']}: {row['events']} events, last at {row['last_event']}")
    if not result["sites"]:
        print("  no events stored yet")
    if result["drops"]:
        print("dropped: " + ", ".join(f"{k} {v}" for k, v in result["drops"].items()))
    return 0


def _query(settings: Settings, ns: argparse.Namespace) -> int:
    if ns.list or not ns.name:
        for query in installed_queries().values():
            names = " ".join(f"[{p.name}={p.default}]" if p.default else p.name for p in query.params)
            print(f"{query.name:<14} {query.description}\n{'':<14} params: {names}")
        return 0
    params: dict[str, str | None] = {}
    for item in ns.param:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise OpError(f"--param {item!r} is not key=value")
        params[key.strip()] = value
    params.update({"site": ns.site, "from": ns.start, "to": ns.end})
    result = run_anywhere(settings, "query", {"name": ns.name, "params": params})
    if ns.format == "parquet":
        if not ns.output:
            raise OpError("--format parquet needs --output FILE")
        formats.to_parquet(result, Path(ns.output))
        return 0
    text = formats.render(result, ns.format)
    if ns.output:
        Path(ns.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def _export(settings: Settings, ns: argparse.Namespace) -> int:
    result = run_anywhere(settings, "export", {"to": str(Path(ns.to).resolve())})
    written, unchanged = len(result["written"]), result["unchanged"]
    print(f"exported to {result['dir']}: {written} partition(s) written, {unchanged} unchanged")
    for key in result["removed"]:
        print(f"  removed {key}")
    return 0


def _snippet(settings: Settings, ns: argparse.Namespace) -> int:
    from collector.http.snippet import TagError, load_snippet, tag

    url = ns.url or f"http://{settings.host}:{settings.port}"
    try:
        print(tag(load_snippet(), url, ns.site, integrity=not ns.no_integrity))
    except TagError as exc:
        print(f"collector: {exc}", file=sys.stderr)
        return 2
    if settings.site(ns.site) is None:
        print(f"collector: note: {ns.site} is not a registered site in these settings yet", file=sys.stderr)
    return 0


def _user(settings: Settings, ns: argparse.Namespace) -> int:
    from collector.access.users import check_password, hash_password

    if ns.action == "list":
        for user in run_anywhere(settings, "user_list", {}):
            sites = ", ".join(user["sites"]) if user["sites"] else "all sites"
            print(f"{user['name']:<24} {' '.join(user['scopes']):<18} {sites}")
        return 0
    if not ns.name:
        raise OpError(f"collector user {ns.action} needs a NAME")
    if ns.action == "remove":
        run_anywhere(settings, "user_remove", {"name": ns.name})
        print(f"removed user {ns.name} and ended their sessions")
        return 0
    if ns.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        import getpass

        password = getpass.getpass(f"password for {ns.name}: ")
        if getpass.getpass("again: ") != password:
            raise OpError("the two passwords differ")
    if problem := check_password(password):
        raise OpError(problem)
    scopes = ["stats:read", "admin"] if ns.admin else ["stats:read"]
    args = {"name": ns.name, "password_hash": hash_password(password), "scopes": scopes, "sites": ns.site}
    run_anywhere(settings, "user_add", args)
    print(f"user {ns.name} can log in at /dashboard ({', '.join(ns.site) if ns.site else 'all sites'})")
    return 0


def _segments(settings: Settings, ns: argparse.Namespace) -> int:
    args: dict[str, Any] = {"site": ns.site}
    if ns.action == "refresh":
        args["only"] = ns.only or None
    result = run_anywhere(settings, f"segments.{ns.action}", args)
    if ns.json:
        print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    elif ns.action == "refresh":
        for row in result:
            print(
                f"{row['site']}: {len(row['segments'])} segments, +{row['added']} -{row['removed']} in {row['ms']} ms"
            )
            for name, members in row["segments"].items():
                print(f"  {name:<28} {members:>9}")
    else:
        for row in result:
            print(f"{row['site']:<20} {row['name']:<28} {row['members']:>9}  {row['computed_at'] or 'never'}")
        if not result:
            print("no segments yet: run `collector segments refresh`")
    return 0


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="TOML config file (default: ./collector.toml if present)")
    parser.add_argument("--data-dir", help="data directory (default: ./data)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="collector", description="Privacy-preserving first-party analytics.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the collector (ingest, snippet, APIs)")
    _common(serve)
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8000)")
    serve.add_argument("--sink", help="ingest only: publish events to NATS JetStream (nats://host:4222[,host:port])")
    serve.set_defaults(handler=_serve)

    load = sub.add_parser("load", help="load events from NATS JetStream into DuckDB, and serve the read APIs")
    _common(load)
    load.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    load.add_argument("--port", type=int, help="port to listen on (default 8000)")
    load.add_argument("--source", required=True, help="NATS servers to consume from (nats://host:4222[,host:port])")
    load.set_defaults(handler=_load)

    status = sub.add_parser("status", help="events stored per site, drops by reason")
    _common(status)
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(handler=_status)

    query = sub.add_parser("query", help="run a named query (queries/*.sql); --list shows them")
    _common(query)
    query.add_argument("name", nargs="?", help="query name")
    query.add_argument("--list", action="store_true", help="list the named queries and their parameters")
    query.add_argument("--site", help="site domain (default: the only registered site)")
    query.add_argument("--from", dest="start", metavar="DATE", help="first day, YYYY-MM-DD (default: to - 29 days)")
    query.add_argument("--to", dest="end", metavar="DATE", help="last day, YYYY-MM-DD (default: today, UTC)")
    query.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="a query parameter")
    query.add_argument("--format", choices=formats.FORMATS, default="table", help="output format (default: table)")
    query.add_argument("--output", metavar="FILE", help="write to FILE instead of standard output")
    query.set_defaults(handler=_query)

    export = sub.add_parser("export", help="write an analyst's snapshot: Parquet files and analytics.duckdb")
    _common(export)
    export.add_argument("--to", required=True, metavar="DIR", help="folder for the snapshot (updated in place)")
    export.set_defaults(handler=_export)

    snippet = sub.add_parser("snippet", help="print the <script> tag a site embeds, with its integrity hash")
    _common(snippet)
    snippet.add_argument("--site", required=True, help="the site's registered domain, e.g. example.com")
    snippet.add_argument("--url", help="the collector's public URL (default http://HOST:PORT from the settings)")
    snippet.add_argument(
        "--no-integrity", action="store_true", help="leave out the SRI hash (the tag then survives snippet updates)"
    )
    snippet.set_defaults(handler=_snippet)

    user = sub.add_parser("user", help="people who log in to /dashboard: add (or change), list, remove")
    _common(user)
    user.add_argument("action", choices=("add", "list", "remove"))
    user.add_argument("name", nargs="?", help="the user's name")
    user.add_argument("--site", action="append", help="a site the user may see (repeat; default: all sites)")
    user.add_argument("--admin", action="store_true", help="also the admin scope")
    user.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    user.set_defaults(handler=_user)

    segments = sub.add_parser("segments", help="refresh segments or list their sizes")
    _common(segments)
    segments.add_argument("action", choices=["refresh", "list"])
    segments.add_argument("--site", help="only this site")
    segments.add_argument("--only", action="append", help="refresh only this definition (repeatable)")
    segments.add_argument("--json", action="store_true", help="print JSON")
    segments.set_defaults(handler=_segments)

    add_privacy_commands(sub, _common, run_anywhere)
    tokens.add_commands(sub, _common, run_anywhere)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    ns = parser.parse_args(argv)
    overrides = {"data_dir": ns.data_dir, "host": getattr(ns, "host", None), "port": getattr(ns, "port", None)}
    overrides["sink"] = getattr(ns, "sink", None)
    try:
        settings = load_settings(ns.config, **overrides)
        handler: Handler = ns.handler
        return handler(settings, ns)
    except (ConfigError, KeyFileError, StoreError, OpError) as exc:
        print(f"collector: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
