"""openapi.merge: modules add operations to one document, and two modules cannot describe the same one."""

from __future__ import annotations

from typing import Any

import pytest

from collector.http.openapi import merge


def test_two_modules_cannot_describe_the_same_operation() -> None:
    paths: dict[str, Any] = {"/x": {"get": {}}}
    merge(paths, {"/x": {"post": {}}}, "a")
    assert set(paths["/x"]) == {"get", "post"}
    with pytest.raises(ValueError, match="b describes GET /x"):
        merge(paths, {"/x": {"get": {}}}, "b")
