"""The DuckDB file: opened encrypted through ATTACH, migrated at start-up, owned by one process."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

_MIGRATION = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")
_LOCK_PID = re.compile(r"PID (\d+)")


class StoreError(Exception):
    """The database cannot be opened; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def httpfs_extension() -> str:
    import duckdb_extension_httpfs

    folder = Path(duckdb_extension_httpfs.__file__).parent
    found = sorted(folder.glob(f"extensions/v{duckdb.__version__}/httpfs.duckdb_extension"))
    if not found:
        found = sorted(folder.glob("**/httpfs.duckdb_extension"))
    if not found:
        raise StoreError("the httpfs extension for DuckDB encryption is not installed (duckdb-extension-httpfs)")
    return str(found[0])


def open_database(
    path: Path, key: str | None, read_only: bool = False, memory_mb: int | None = None
) -> duckdb.DuckDBPyConnection:
    """Open (and create) the database; with a key it is encrypted at rest (AES-GCM through OpenSSL in httpfs).

    `memory_mb` caps DuckDB's buffer pool (its own default is 80 % of the machine's RAM); sorts, joins and
    aggregates larger than that spill to `<database>.tmp` beside the file instead of failing.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(":memory:")
    try:
        if memory_mb is not None:
            # SET takes no bound parameters: the limit is a validated int, the folder is quoted as ATTACH's path is.
            con.execute(f"SET memory_limit = '{int(memory_mb)}MB'")
            spill = f"{path}.tmp".replace("'", "''")
            con.execute(f"SET temp_directory = '{spill}'")
        options = []
        if key is not None:
            con.execute(f"LOAD '{httpfs_extension()}'")
            options.append("ENCRYPTION_KEY ?")
        if read_only:
            options.append("READ_ONLY")
        opts = f" ({', '.join(options)})" if options else ""
        # ATTACH takes no bound path, so the path is quoted here; the key is bound.
        quoted = str(path).replace("'", "''")
        con.execute(f"ATTACH '{quoted}' AS db{opts}", [key] if key is not None else [])
        con.execute("USE db")
    except duckdb.Error as exc:
        con.close()
        raise StoreError(_explain(exc, path)) from None
    return con


def _explain(exc: duckdb.Error, path: Path) -> str:
    text = str(exc)
    if "lock" in text.lower():
        pid = _LOCK_PID.search(text)
        who = f"process {pid.group(1)}" if pid else "another process"
        return f"database {path} is locked by {who} (another collector serving this data dir?)"
    if "without a key" in text or "encrypt" in text.lower() or "key" in text.lower():
        return f"database {path} cannot be opened with this key: {text}"
    return f"database {path} cannot be opened: {text}"


def load_migrations(folder: Path | None = None) -> list[Migration]:
    folder = folder or Path(__file__).with_name("migrations")
    migrations = []
    for file in sorted(folder.glob("*.sql")):
        match = _MIGRATION.match(file.name)
        if not match:
            raise StoreError(f"migration file {file.name} must be named NNN_name.sql")
        migrations.append(Migration(int(match.group(1)), match.group(2), file.read_text(encoding="utf-8")))
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise StoreError("two migrations share a number")
    return migrations


def migrate(con: duckdb.DuckDBPyConnection, migrations: list[Migration] | None = None) -> list[int]:
    """Apply the migrations not yet applied, each in its own transaction; return the versions applied."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR, applied_at TIMESTAMP)"
    )
    done = {row[0] for row in con.execute("SELECT version FROM schema_migrations").fetchall()}
    applied = []
    for migration in migrations if migrations is not None else load_migrations():
        if migration.version in done:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(migration.sql)
            con.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                [migration.version, migration.name, datetime.now(UTC).replace(tzinfo=None)],
            )
            con.execute("COMMIT")
        except duckdb.Error as exc:
            con.execute("ROLLBACK")
            raise StoreError(f"migration {migration.version:03d}_{migration.name} failed: {exc}") from None
        applied.append(migration.version)
    return applied


def cursor(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """A new connection to the same database for another thread, with the attached file as default."""
    cur = con.cursor()
    cur.execute("USE db")
    return cur
