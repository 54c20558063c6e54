"""Feature: how a part of the collector plugs in, declared in one place as plain data.

A feature names what it adds: admin operations (run in the server, or on the database file when no
server runs), `collector` subcommands, the OpenAPI description of its routes, and, for the running
server, its routes, its batch hooks and what it runs beside the server. The app and the CLI are built
from one explicit list of features; nothing registers itself by being imported.

The running parts take the server's live state, whose type the app chooses (`Up`): a feature asks only
for what it reads (at least `Core`, often a Protocol of its own), so a feature need not import the web
layer, nor this module anything of the features.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import duckdb
from starlette.routing import BaseRoute
from starlette.types import ASGIApp

from collector.admin.ops import Op
from collector.settings import Settings
from collector.storage.batches import BatchHook

if TYPE_CHECKING:
    from collector.durable.writer import Writer
    from collector.identifiers.keys import Keys

Up = TypeVar("Up", contravariant=True)

# Runs an admin operation, in the server when one answers on the data directory's socket, else on the file.
Run = Callable[[Settings, str, dict[str, Any]], Any]
# Adds the options every command shares (--config, --data-dir) to a parser.
Common = Callable[[argparse.ArgumentParser], None]
# (path, methods, app): a route answered before Starlette's middleware (http.asgi.Direct has this shape).
DirectRoute = tuple[str, frozenset[str], ASGIApp]


def common_only(parser: argparse.ArgumentParser, common: Common) -> None:
    """The arguments of a command that has no options of its own."""
    common(parser)


@dataclass(frozen=True)
class Command:
    """A `collector NAME` subcommand: `run` carries it out and returns the exit status; `arguments` declares
    its options, calling `common` on each parser that takes --config and --data-dir."""

    name: str
    help: str
    run: Callable[[Settings, argparse.Namespace, Run], int]
    arguments: Callable[[argparse.ArgumentParser, Common], None] = common_only


class Opened(Protocol):
    """The server's database and keys (collector.http.runtime.Runtime)."""

    @property
    def con(self) -> duckdb.DuckDBPyConnection: ...
    @property
    def keys(self) -> Keys: ...


class Core(Protocol):
    """What any feature may read of the running server (collector.http.app.Live); None until it is up."""

    @property
    def runtime(self) -> Opened | None: ...
    @property
    def writer(self) -> Writer | None: ...


def no_paths(settings: Settings) -> dict[str, Any]:
    return {}


def described(paths: dict[str, Any]) -> Callable[[Settings], dict[str, Any]]:
    """A feature's `paths` when its description does not depend on the settings."""
    return lambda settings: paths


@dataclass(frozen=True)
class Feature(Generic[Up]):
    """One feature's contributions; every field may be left empty.

    `paths` describes the feature's routes for /openapi.json (`{"/path": {"get": {...}}}`), `schemas` the
    components they refer to. `routes` and `direct` are built when the app is, and may read `Up` only when
    called. `hooks` run in the writer's load transaction. `lifespan` is entered after the core has started,
    in the order of the features, and left in reverse order before it stops.
    """

    name: str
    ops: Mapping[str, Op] = field(default_factory=dict)
    commands: Sequence[Command] = ()
    paths: Callable[[Settings], dict[str, Any]] = no_paths
    schemas: Mapping[str, Any] = field(default_factory=dict)
    routes: Callable[[Settings, Up], Sequence[BaseRoute]] | None = None
    direct: Callable[[Settings, Up], Sequence[DirectRoute]] | None = None
    hooks: Sequence[BatchHook] = ()
    lifespan: Callable[[Settings, Up], contextlib.AbstractAsyncContextManager[None]] | None = None


def op_table(features: Sequence[Feature[Any]]) -> dict[str, Op]:
    """Every feature's operations by name; two features may not declare the same name."""
    table: dict[str, Op] = {}
    for feature in features:
        for name, fn in feature.ops.items():
            if name in table:
                raise ValueError(f"{feature.name} declares the operation {name!r}, which is already declared")
            table[name] = fn
    return table
