"""The `collector` command. Commands that touch data go through the running server when there is one."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from collector.admin import channel as admin
from collector.admin.ops import OpError, run_op
from collector.app import FEATURES, OPS
from collector.cli.shell import shell, shell_arguments
from collector.durable.journal import Journal, Sealer
from collector.durable.process import journal_lock
from collector.durable.writer import replay
from collector.feature import Command, Common, Run
from collector.identifiers.keys import KeyFileError, load_keys
from collector.settings import ConfigError, Settings, load_settings
from collector.storage.store import StoreError, migrate, open_database

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
    con = open_database(settings.database_path, key, memory_mb=settings.database_memory_mb)
    held: contextlib.AbstractContextManager[Journal | None] = contextlib.nullcontext()
    if settings.journal_path.exists():
        held = _locked_journal(settings.journal_path)
    try:
        migrate(con)
        with held as journal:
            if journal is not None:
                replay(con, journal, Sealer(key))  # events acknowledged before an unclean stop
            result = run_op(OPS, name, con, settings, args)
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


def _serve(settings: Settings, ns: argparse.Namespace, run: Run) -> int:
    from collector.http.runner import listen

    sock = listen(settings)  # a busy port fails here, before the data directory is touched
    if settings.sink:
        from collector.scaleout.node import serve_ingest

        return serve_ingest(settings, sock)
    from collector.app import serve

    return serve(settings, sock=sock)


def _serve_arguments(serve: argparse.ArgumentParser, common: Common) -> None:
    common(serve)
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8000)")
    serve.add_argument("--sink", help="ingest only: publish events to NATS JetStream (nats://host:4222[,host:port])")


def _load(settings: Settings, ns: argparse.Namespace, run: Run) -> int:
    from collector.http.runner import listen
    from collector.scaleout.loader import run_load

    return run_load(settings, ns.source, listen(settings))


def _load_arguments(load: argparse.ArgumentParser, common: Common) -> None:
    common(load)
    load.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    load.add_argument("--port", type=int, help="port to listen on (default 8000)")
    load.add_argument("--source", required=True, help="NATS servers to consume from (nats://host:4222[,host:port])")


def _snippet(settings: Settings, ns: argparse.Namespace, run: Run) -> int:
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


def _snippet_arguments(snippet: argparse.ArgumentParser, common: Common) -> None:
    common(snippet)
    snippet.add_argument("--site", required=True, help="the site's registered domain, e.g. example.com")
    snippet.add_argument("--url", help="the collector's public URL (default http://HOST:PORT from the settings)")
    snippet.add_argument(
        "--no-integrity", action="store_true", help="leave out the SRI hash (the tag then survives snippet updates)"
    )


# The command line's own commands, which start a server or need none; the features add theirs after these.
COMMANDS = (
    Command("serve", "run the collector (ingest, snippet, APIs)", _serve, _serve_arguments),
    Command("load", "load events from NATS JetStream into DuckDB, and serve the read APIs", _load, _load_arguments),
    Command("snippet", "print the <script> tag a site embeds, with its integrity hash", _snippet, _snippet_arguments),
    Command("shell", "SQL on an analyst's snapshot (collector export), no DuckDB CLI needed", shell, shell_arguments),
)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="TOML config file (default: ./collector.toml if present)")
    parser.add_argument("--data-dir", help="data directory (default: ./data)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="collector", description="Privacy-preserving first-party analytics.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in (*COMMANDS, *(c for feature in FEATURES for c in feature.commands)):
        command_parser = sub.add_parser(command.name, help=command.help)
        command.arguments(command_parser, _common)
        command_parser.set_defaults(run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    ns = parser.parse_args(argv)
    overrides = {"data_dir": ns.data_dir, "host": getattr(ns, "host", None), "port": getattr(ns, "port", None)}
    overrides["sink"] = getattr(ns, "sink", None)
    try:
        settings = load_settings(ns.config, **overrides)
        command: Callable[[Settings, argparse.Namespace, Run], int] = ns.run
        return command(settings, ns, run_anywhere)
    except (ConfigError, KeyFileError, StoreError, OpError) as exc:
        print(f"collector: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
