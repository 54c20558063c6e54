"""GET /openapi.json: the API described, assembled from the core's paths and each feature's.

A feature that adds routes describes them in its `paths` (`{"/path": {"get": {...}}}`, for the
deployment's settings) and the components they refer to in its `schemas`. tests/system/test_openapi.py fails
when a route of the app is not described, so a new route cannot be forgotten.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import collector
from collector.access.auth import SCOPES
from collector.feature import Feature
from collector.ingest.parsing import (
    MAX_HINT_VALUE,
    MAX_HINTS,
    MAX_ID,
    MAX_NAME,
    MAX_PROP_KEY,
    MAX_PROP_VALUE,
    MAX_PROPS,
    MAX_SCREEN,
    MAX_URL,
)
from collector.settings import Settings

METHODS = ("get", "put", "post", "delete", "options", "head", "patch")


def error(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    if headers:
        response["headers"] = headers
    return response


_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "string", "pattern": "^[0-9]+$"}}}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error", "field"],
        "properties": {
            "error": {"type": "string", "description": "What is wrong, for a person to read"},
            "field": {"type": ["string", "null"], "description": "The offending field, header or 'body'"},
            "index": {"type": "integer", "description": "Position of the offending event in a batch"},
        },
    },
}

RESPONSES: dict[str, Any] = {
    "BadRequest": error("The request is malformed; `field` names what is wrong"),
    "Unauthorized": error(
        "No API token, or not a valid one",
        {"WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}},
    ),
    "Forbidden": error("The token lacks the scope, or the site, this call needs"),
    "NotFound": error("No such thing (for example, no query of that name)"),
    "TooManyRequests": error("Rate limited", _RETRY_AFTER),
    "Unavailable": error("Not stored or not answered now; retry later", _RETRY_AFTER),
}


# What the parser strips around a value (str.strip() whitespace that is not a control character).
_WS = "[ \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]*"
_PRINTABLE = "^[^\\x00-\\x1f\\x7f]*$"
_URL = "[Hh][Tt][Tt][Pp][Ss]?://[^\\x00-\\x1f\\x7f]*"


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """The parser treats null like an absent field."""
    return schema | {"type": [schema["type"], "null"]}


def _stripped(core: str, optional: bool) -> str:
    """A pattern for a value the parser strips before matching `core`; optional values may be blank."""
    return f"^{_WS}({core}{_WS})?$" if optional else f"^{_WS}{core}{_WS}$"


def _domain(domain: str) -> str:
    """The domain, case-insensitively (as str.lower() compares it), as a regular expression."""
    out = []
    for c in domain:
        if c.isalpha():
            out.append(f"[{c.upper()}{c}{chr(0x212A) if c == 'k' else ''}]")
        else:
            out.append("\\" + c if c in ".-" else c)
    return "".join(out)


def _event_schema(settings: Settings) -> dict[str, Any]:
    def text(limit: int, **extra: Any) -> dict[str, Any]:
        return {"type": "string", "maxLength": limit, "pattern": _PRINTABLE} | extra

    sites = "|".join(_domain(s.domain) for s in settings.sites)
    return {
        "type": "object",
        "required": ["d", "u"],
        "properties": {
            "d": {
                "type": "string",
                "maxLength": 253,
                "pattern": _stripped(f"({sites})", optional=False),
                "description": "Site domain, one of: " + ", ".join(s.domain for s in settings.sites),
            },
            "n": _nullable(text(MAX_NAME, description="Event name (default: pageview)")),
            "u": {"type": "string", "maxLength": MAX_URL, "pattern": f"^{_WS}{_URL}$", "description": "Page URL"},
            "r": {
                "type": ["string", "null"],
                "maxLength": MAX_URL,
                "pattern": f"^{_WS}({_URL})?$",
                "description": "Referrer URL",
            },
            "w": {
                "type": ["number", "null"],
                "exclusiveMinimum": 0,
                "maximum": MAX_SCREEN,
                "description": "Screen width",
            },
            "h": {
                "type": ["number", "null"],
                "exclusiveMinimum": 0,
                "maximum": MAX_SCREEN,
                "description": "Screen height",
            },
            "l": {
                "type": ["string", "null"],
                "maxLength": 35,
                "pattern": _stripped("[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*", optional=True),
                "description": "navigator.language",
            },
            "tz": {
                "type": ["string", "null"],
                "maxLength": 64,
                "pattern": _stripped("([A-Za-z_]+(/[A-Za-z0-9_+\\-]+){0,2}|Etc/GMT[+-][0-9]{1,2})", optional=True),
                "description": "IANA time zone",
            },
            "ch": {
                "type": ["object", "null"],
                "maxProperties": MAX_HINTS,
                "propertyNames": {"maxLength": 64, "pattern": _PRINTABLE},
                "additionalProperties": {"oneOf": [{"type": "boolean"}, text(MAX_HINT_VALUE)]},
                "description": "Client hints from navigator.userAgentData.getHighEntropyValues()",
            },
            "id": {
                "type": ["string", "null"],
                "maxLength": MAX_ID,
                "pattern": _stripped(f"[A-Za-z0-9_\\-]{{8,{MAX_ID}}}", optional=True),
                "description": "A consented first-party id; hashed with a secret pepper, never stored",
            },
            "p": {
                "type": ["object", "null"],
                "maxProperties": MAX_PROPS,
                "propertyNames": {"minLength": 1, "maxLength": MAX_PROP_KEY, "pattern": _PRINTABLE},
                "additionalProperties": {
                    "oneOf": [
                        text(MAX_PROP_VALUE),
                        # orjson reads integers of at most 64 bits
                        {"type": "number", "minimum": -(2**63), "maximum": 2**64 - 1},
                    ]
                },
                "description": "Custom properties; numbers are stored as text",
            },
            "wd": {"type": ["boolean", "null"], "description": "navigator.webdriver"},
            "gpc": {"type": ["boolean", "null"], "description": "navigator.globalPrivacyControl"},
        },
    }


def _core_paths(settings: Settings) -> dict[str, Any]:
    origins = sorted({o for s in settings.sites for o in s.origins})
    origin = {
        "name": "Origin",
        "in": "header",
        "required": False,
        "description": (
            "The page's origin; must be registered for the event's site. Without it, a Referer from a registered"
            " origin stands for it; without either, the site must have server_side = true, or the request an"
            " Authorization: Bearer token with the ingest scope"
        ),
        "schema": {"type": "string", "enum": origins},
    }
    body_schema = {
        "oneOf": [
            {"$ref": "#/components/schemas/Event"},
            {
                "type": "array",
                "items": {"$ref": "#/components/schemas/Event"},
                "minItems": 1,
                "maxItems": settings.max_batch_events,
            },
        ]
    }
    return {
        "/api/event": {
            "post": {
                "summary": "Record one event or a batch of events",
                "operationId": "ingest",
                "tags": ["ingest"],
                "security": [],
                "parameters": [origin],
                "requestBody": {
                    "required": True,
                    "description": (
                        f"At most {settings.max_body_bytes} bytes. Plausible's payloads (`v`, or the Events API's"
                        " `name`, `url`, `domain`) are read as Plausible sends them (docs/migrate.md)"
                    ),
                    "content": {"application/json": {"schema": body_schema}, "text/plain": {"schema": body_schema}},
                },
                "responses": {
                    "202": {"description": "Stored durably (or dropped by a filter, which is counted)"},
                    "400": {"$ref": "#/components/responses/BadRequest"},
                    "403": error("The origin or the site is not registered"),
                    "408": error("The body arrived too slowly"),
                    "413": error("The body is too large"),
                    "415": error("The content type is not application/json or text/plain"),
                    "429": {"$ref": "#/components/responses/TooManyRequests"},
                    "503": {"$ref": "#/components/responses/Unavailable"},
                },
            },
            "options": {
                "summary": "CORS preflight for registered origins",
                "operationId": "ingestPreflight",
                "tags": ["ingest"],
                "security": [],
                "parameters": [origin],
                "responses": {
                    "204": {"description": "The origin may post events"},
                    "403": error("The origin is not registered"),
                },
            },
        },
        "/": {
            "get": {
                "summary": "Demo page embedding the snippet",
                "operationId": "demo",
                "tags": ["pages"],
                "security": [],
                "responses": {"200": {"description": "HTML", "content": {"text/html": {"schema": {"type": "string"}}}}},
            }
        },
        "/js/collector.js": {
            "get": {
                "summary": "The snippet",
                "operationId": "snippet",
                "tags": ["pages"],
                "security": [],
                "responses": {
                    "200": {
                        "description": "JavaScript",
                        "content": {"text/javascript": {"schema": {"type": "string"}}},
                    },
                    "304": {"description": "Not modified (If-None-Match)"},
                },
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "operationId": "openapi",
                "tags": ["operations"],
                "security": [],
                "responses": {"200": json_response("OpenAPI 3.1 document", None)},
            }
        },
    }


def json_response(description: str, ref: str | None) -> dict[str, Any]:
    schema = {"$ref": ref} if ref else {"type": "object"}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def merge(paths: dict[str, Any], more: dict[str, Any], source: str) -> None:
    for path, operations in more.items():
        target = paths.setdefault(path, {})
        for method, operation in operations.items():
            if method in target:
                raise ValueError(f"{source} describes {method.upper()} {path}, which is already described")
            target[method] = operation


def document(settings: Settings, features: Sequence[Feature[Any]]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the core and `features`."""
    paths = _core_paths(settings) | _door_paths(settings)
    schemas = dict(SCHEMAS) | {"Event": _event_schema(settings)}
    for feature in features:
        merge(paths, feature.paths(settings), feature.name)
        schemas |= feature.schemas
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "collector",
            "version": collector.__version__,
            "description": (
                "Privacy-preserving first-party analytics. Ingest, the snippet and health are public; "
                "everything else needs `Authorization: Bearer <token>` with a scope: " + ", ".join(SCOPES) + ". "
                "`admin` allows everything. A token may be limited to some sites."
            ),
        },
        "servers": [{"url": "/"}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": schemas,
            "responses": RESPONSES,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "col_<id>_<secret>"}},
        },
        "security": [{"bearer": []}],
    }


def _answers(success: dict[str, Any]) -> dict[str, Any]:
    """A door's answers: its own success, and the errors every door shares with /api/event."""
    return {
        **success,
        "400": {"$ref": "#/components/responses/BadRequest"},
        "401": {"$ref": "#/components/responses/Unauthorized"},
        "403": error("The origin, the Referer or the site is not registered, or the sender may not send"),
        "408": error("The body arrived too slowly"),
        "413": error("The body is too large"),
        "415": error("The content type is not application/json or text/plain"),
        "429": {"$ref": "#/components/responses/TooManyRequests"},
        "503": {"$ref": "#/components/responses/Unavailable"},
    }


def _door(summary: str, operation: str, success: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {
        "summary": summary,
        "operationId": operation,
        "tags": ["doors"],
        "security": [],
        **more,
        "responses": _answers(success),
    }


def _preflight(operation: str) -> dict[str, Any]:
    return {
        "summary": "CORS preflight for registered origins",
        "operationId": operation,
        "tags": ["doors"],
        "security": [],
        "responses": {"204": {"description": "The origin may send"}, "403": error("The origin is not registered")},
    }


def _door_paths(settings: Settings) -> dict[str, Any]:
    """The Umami and Matomo doors (collector.http.doors; docs/migrate.md says what each carries)."""
    an_object = {"schema": {"type": "object"}}
    stored = {"description": "Stored durably", "content": {"application/json": an_object}}
    umami = {
        "type": "object",
        "required": ["payload"],
        "properties": {
            "type": {"enum": ["event", "identify"]},
            "payload": {
                "type": "object",
                "required": ["website"],
                "properties": {"website": {"type": "string", "description": "umami_website_id"}},
            },
        },
    }
    umami_body = {"required": True, "content": {"application/json": {"schema": umami}}}
    bulk = {
        "type": "object",
        "required": ["requests"],
        "properties": {
            "requests": {
                "type": "array",
                "items": {"type": "string", "description": "?idsite=…&rec=1&url=…"},
                "minItems": 1,
                "maxItems": settings.max_batch_events,
            },
            "token_auth": {"type": "string"},
        },
    }
    one = {"type": "object", "required": ["idsite"], "properties": {"idsite": {"type": "string"}}}
    recorded = {"description": "Stored durably, dropped by a filter, or nothing to record"}
    gif = {
        "description": "A 1x1 GIF (GET), or a bulk request's status",
        "content": {"image/gif": {"schema": {"type": "string"}}, "application/json": an_object},
    }
    idsite = {
        "name": "idsite",
        "in": "query",
        "required": True,
        "description": "Matomo's site id (matomo_site_id), with rec, url and the tracking API's other parameters",
        "schema": {"type": "string"},
    }
    form = {
        "required": True,
        "description": "A bulk request, or one request's parameters as a form",
        "content": {"application/json": {"schema": bulk}, "application/x-www-form-urlencoded": {"schema": one}},
    }
    paths: dict[str, Any] = {
        "/api/send": {
            "post": _door("Umami's tracker and @umami/node", "umamiSend", {"200": stored}, requestBody=umami_body),
            "options": _preflight("umamiPreflight"),
        }
    }
    for name in ("matomo", "piwik"):
        summary = "Matomo's tracking API: a GET, a form POST or a bulk JSON POST"
        paths[f"/{name}.php"] = {
            "get": _door(summary, f"{name}Get", {"200": gif, "204": recorded}, parameters=[idsite]),
            "post": _door(summary, f"{name}Post", {"200": gif, "204": recorded}, requestBody=form),
            "options": _preflight(f"{name}Preflight"),
        }
    return paths
