"""Matomo's HTTP tracking API (its JS tracker, its mobile SDKs, `matomo-tracker`), on /matomo.php and /piwik.php.

A request is a set of query parameters: `idsite, rec, url, urlref, res, lang, e_c/e_a/e_n/e_v, link,
download, _id, uid, cid, ua, cip, token_auth` and more; a bulk request is a JSON body
`{"requests": ["?idsite=…", …], "token_auth": …}`. A request without `rec=1`, a heartbeat (`ping`) and
a content impression record nothing, as in Matomo. `action_name`, custom dimensions and variables,
e-commerce and performance timings are not stored. `ua` and `cip` are the sender's to give only with
a token (collector.http.doors); `_id`, `uid` and `cid` become the visitor id only for a site whose ids
are sent after consent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

from collector.ingest.doors.hits import Hit, SiteIds, language, referrer, scalar_props, screen, visitor_id
from collector.ingest.parsing import MAX_NAME, ParseError

Params = Mapping[str, str]


def params(query: str) -> dict[str, str]:
    """A query string (with or without its "?") as parameters; a repeated one keeps its first value."""
    return {k: v[0] for k, v in parse_qs(query.removeprefix("?"), keep_blank_values=True).items()}


def translate(requests: list[Params], ids: SiteIds) -> list[Hit]:
    """The hits of a request or of a bulk request's requests; those that record nothing are left out."""
    hits: list[Hit] = []
    for i, p in enumerate(requests):
        index = i if len(requests) > 1 else None
        idsite = p.get("idsite", "").strip()
        site = ids.matomo.get(idsite)
        if site is None:
            message = f"idsite {idsite[:20]!r} is not registered; set matomo_site_id in its [[sites]] entry"
            raise ParseError(message, "idsite", index, status=403)
        if p.get("rec") != "1" or p.get("ping") or p.get("c_n"):
            continue
        hits.append(Hit(_event(p, site, ids)))
    return hits


def _event(p: Params, site: str, ids: SiteIds) -> dict[str, Any]:
    w, h = screen(p.get("res"))
    raw: dict[str, Any] = {
        "d": site,
        "u": p.get("url"),
        "r": referrer(p.get("urlref")),
        "w": w,
        "h": h,
        "l": language((p.get("lang") or "").split(",", 1)[0].split(";", 1)[0]),
        "id": visitor_id(site, ids, p.get("cid"), p.get("uid"), p.get("_id")),
    }
    if p.get("e_c") and p.get("e_a"):
        props = {"category": p["e_c"], "action": p["e_a"], "name": p.get("e_n"), "value": p.get("e_v")}
        raw["n"], raw["p"] = p["e_c"][:MAX_NAME], scalar_props({k: v for k, v in props.items() if v})
    elif p.get("link"):
        raw["n"], raw["p"] = "Outbound Link: Click", scalar_props({"url": p["link"]})
    elif p.get("download"):
        raw["n"], raw["p"] = "File Download", scalar_props({"url": p["download"]})
    return raw
