"""Third-party click ids and tracker parameters: the one list, and stripping them from page URLs.

A parameter is a tracker when its lower-cased name is in TRACKER_PARAMS or starts with one of
TRACKER_PREFIXES. `utm_*` parameters are not trackers: they become campaign columns (urls.py).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

TRACKER_PARAMS = frozenset(
    {
        # Google Ads, Display & Video 360, Analytics, Tag Manager linker
        "gclid",
        "gclsrc",
        "dclid",
        "gbraid",
        "wbraid",
        "gad_source",
        "gad_campaignid",
        "srsltid",
        "_ga",
        "_gl",
        "_gac",
        # Meta (Facebook, Instagram)
        "fbclid",
        "igshid",
        "igsh",
        # Microsoft Advertising
        "msclkid",
        # TikTok, X/Twitter, LinkedIn, Snapchat, Pinterest, Reddit
        "ttclid",
        "twclid",
        "li_fat_id",
        "sccid",
        "epik",
        "rdt_cid",
        # Yandex, Baidu
        "yclid",
        "ysclid",
        "bd_vid",
        # E-mail marketing: Mailchimp, HubSpot, Marketo, Klaviyo, Vero, Oracle Eloqua
        "mc_eid",
        "mc_cid",
        "_hsenc",
        "_hsmi",
        "__hssc",
        "__hstc",
        "__hsfp",
        "hsctatracking",
        "mkt_tok",
        "_kx",
        "vero_id",
        "vero_conv",
        "elqtrackid",
        "elqtrack",
        # Adobe, Matomo/Piwik, Olytics, Wicked Reports, misc affiliate networks
        "s_kwcid",
        "ef_id",
        "oly_anon_id",
        "oly_enc_id",
        "wickedid",
        "irclickid",
        "clickid",
        "zanpid",
        "ranmid",
        "ransiteid",
        "raneaid",
    }
)
TRACKER_PREFIXES = ("pk_", "mtm_", "piwik_", "matomo_", "_hs", "hsa_")


_NAMES = re.compile(r"[?&;]([^=&#;]*)")


def is_tracker(name: str) -> bool:
    name = name.lower()
    return name in TRACKER_PARAMS or name.startswith(TRACKER_PREFIXES)


def strip_trackers(url: str) -> tuple[str, list[str]]:
    """The URL without tracker parameters, and the names of those removed (lower-cased, in order)."""
    query_at = url.find("?")
    if query_at < 0:
        return url, []
    query = url[query_at:]
    if "%" not in query and "+" not in query and not any(is_tracker(name) for name in _NAMES.findall(query)):
        return url, []
    try:
        parts = urlsplit(url)
    except ValueError:
        return url, []
    if not parts.query:
        return url, []
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(k, v) for k, v in pairs if not is_tracker(k)]
    if len(kept) == len(pairs):
        return url, []
    removed = [k.lower() for k, _ in pairs if is_tracker(k)]
    return urlunsplit(parts._replace(query=urlencode(kept))), removed
