"""Key material: the HMAC pepper for consented ids and the database encryption key.

Both live in a key file in the data directory (created on first start, mode 0600) or come from
COLLECTOR_PEPPER / COLLECTOR_DATABASE_KEY. Neither ever enters the database.
"""

from __future__ import annotations

import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

import orjson


class KeyFileError(Exception):
    """The key file is missing, unreadable, malformed or too widely readable."""


@dataclass(frozen=True, slots=True)
class Keys:
    pepper: bytes
    database_key: str


def load_keys(path: Path, env: dict[str, str] | None = None, create: bool = True) -> Keys:
    env = dict(os.environ) if env is None else env
    pepper_env = env.get("COLLECTOR_PEPPER")
    db_env = env.get("COLLECTOR_DATABASE_KEY")
    if pepper_env and db_env:
        return Keys(pepper=_decode(pepper_env, "COLLECTOR_PEPPER"), database_key=db_env)
    if not path.exists():
        if not create:
            raise KeyFileError(f"key file {path} does not exist")
        _create(path)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise KeyFileError(f"key file {path} is readable by others (mode {mode:o}); run: chmod 600 {path}")
    try:
        data = orjson.loads(path.read_bytes())
        pepper = _decode(str(data["pepper"]), "pepper")
        database_key = str(data["database_key"])
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise KeyFileError(f"key file {path} cannot be read: {exc}") from None
    if pepper_env:
        pepper = _decode(pepper_env, "COLLECTOR_PEPPER")
    return Keys(pepper=pepper, database_key=db_env or database_key)


def _create(path: Path) -> None:
    data = {"pepper": secrets.token_hex(32), "database_key": secrets.token_hex(32)}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(orjson.dumps(data))
        f.flush()
        os.fsync(f.fileno())


def _decode(value: str, name: str) -> bytes:
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise KeyFileError(f"{name} must be hex-encoded") from None
    if len(raw) < 16:
        raise KeyFileError(f"{name} must hold at least 16 bytes")
    return raw
