from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from collector.access.auth import (
    AuthError,
    TokenIndex,
    authenticate,
    authorize,
    create_token,
    list_tokens,
    revoke_token,
)
from collector.admin.ops import OpError, run_op
from collector.app import OPS
from collector.settings import load_settings
from collector.storage.store import migrate, open_database


@pytest.fixture
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    con = open_database(tmp_path / "auth.duckdb", None)
    migrate(con)
    yield con
    con.close()


def test_index_and_database_agree_on_every_token(con: duckdb.DuckDBPyConnection) -> None:
    _, token = create_token(con, "crm", ["segments:read"], ["example.com"])
    index = TokenIndex()
    index.load(con, 0.0)
    header = f"Bearer {token}"
    assert index.authenticate(header) == authenticate(con, header)
    assert index.authenticate(header).sites == frozenset({"example.com"})


def test_index_goes_stale_when_tokens_change_or_age(con: duckdb.DuckDBPyConnection) -> None:
    index = TokenIndex(max_age=30)
    index.load(con, 100.0)
    assert not index.stale(110.0)
    assert index.stale(131.0)
    _, token = create_token(con, "crm", ["stats:read"])
    assert index.stale(110.0)
    with pytest.raises(AuthError):
        index.authenticate(f"Bearer {token}")
    index.load(con, 110.0)
    assert index.authenticate(f"Bearer {token}").name == "crm"
    revoke_token(con, "crm")
    index.load(con, 111.0)
    with pytest.raises(AuthError) as exc:
        index.authenticate(f"Bearer {token}")
    assert exc.value.status == 401


def test_token_names_and_ids_revoke_and_list(con: duckdb.DuckDBPyConnection) -> None:
    first, _ = create_token(con, "crm", ["stats:read"])
    assert revoke_token(con, first) == [first]
    second, _ = create_token(con, "crm", ["stats:read"])
    assert [t["id"] for t in list_tokens(con)] == [second]
    assert {t["id"] for t in list_tokens(con, include_revoked=True)} == {first, second}
    assert revoke_token(con, "crm") == [second]
    assert revoke_token(con, "nobody") == []


def test_the_cli_keeps_active_names_unique_and_revokes_unambiguously(con: duckdb.DuckDBPyConnection) -> None:
    settings = load_settings(env={})
    run_op(OPS, "token.create", con, settings, {"name": "crm", "scopes": ["stats:read"]})
    with pytest.raises(OpError, match="an active token named 'crm' exists"):
        run_op(OPS, "token.create", con, settings, {"name": "crm", "scopes": ["stats:read"]})
    create_token(con, "crm", ["stats:read"])  # code may still make two; the CLI then asks for an id
    with pytest.raises(OpError, match="2 active tokens are named 'crm'; revoke one by id"):
        run_op(OPS, "token.revoke", con, settings, {"token": "crm"})


def test_unknown_or_missing_scopes_are_refused(con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(ValueError, match="unknown scope"):
        create_token(con, "x", ["stats:write"])
    with pytest.raises(ValueError, match="none given"):
        create_token(con, "x", [])


def test_authorize_checks_scope_then_site(con: duckdb.DuckDBPyConnection) -> None:
    _, token = create_token(con, "crm", ["segments:read"], ["example.com"])
    principal = authenticate(con, f"Bearer {token}")
    authorize(principal, "segments:read", "example.com")
    authorize(principal, "segments:read")
    for scope, site in [("stats:read", "example.com"), ("segments:read", "other.org"), ("admin", None)]:
        with pytest.raises(AuthError) as exc:
            authorize(principal, scope, site)
        assert exc.value.status == 403
