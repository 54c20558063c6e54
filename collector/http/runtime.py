"""Everything the server holds while it runs: keys, the database, salts, the writer and the pipeline."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import duckdb

from collector.durable.journal import Journal
from collector.identifiers.keys import KeyFileError, Keys, load_keys
from collector.settings import ConfigError, Settings
from collector.storage.salts import Salts
from collector.storage.store import migrate, open_database


@dataclass(slots=True)
class Runtime:
    settings: Settings
    keys: Keys
    con: duckdb.DuckDBPyConnection
    salts: Salts

    @property
    def database_key(self) -> str | None:
        return self.keys.database_key if self.settings.encrypt else None

    def close(self) -> None:
        self.con.close()


def open_journal(settings: Settings) -> Journal:
    return Journal(settings.journal_path)


def check_data_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"data directory {path} cannot be created: {exc.strerror}") from None
    if not path.is_dir():
        raise ConfigError(f"data directory {path} is not a directory")
    # A real write, not os.access: root passes access checks even on a read-only file system.
    probe = path / f".write-test-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(f"data directory {path} is not writable: {exc.strerror}") from None


def open_runtime(settings: Settings) -> Runtime:
    """Open the data directory for writing; raises ConfigError, KeyFileError or StoreError with a clear message."""
    check_data_dir(settings.data_dir)
    database_exists = settings.database_path.exists()
    try:
        keys = load_keys(settings.key_path, create=not database_exists)
    except KeyFileError:
        if database_exists and not settings.key_path.exists():
            raise KeyFileError(
                f"key file {settings.key_path} is missing but database {settings.database_path} exists: "
                "restore the key file (or set COLLECTOR_PEPPER and COLLECTOR_DATABASE_KEY); "
                "a new key could not read the data"
            ) from None
        raise
    con = open_database(
        settings.database_path,
        keys.database_key if settings.encrypt else None,
        memory_mb=settings.database_memory_mb,
    )
    try:
        migrate(con)
        salts = Salts(settings.salt_grace_hours)
        salts.rotate(con)
    except BaseException:
        con.close()
        raise
    return Runtime(settings=settings, keys=keys, con=con, salts=salts)
