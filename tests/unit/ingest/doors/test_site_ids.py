"""The [[sites]] keys of the doors: old ids, server-side senders, ids sent after consent."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.ingest.doors.hits import SiteIds
from collector.settings import ConfigError, load_settings

UMAMI = "5C7A1F0E-6D2B-4C44-9A51-2F0E0C1D7B90"


def config(tmp_path: Path, *sites: str) -> Path:
    path = tmp_path / "collector.toml"
    path.write_text("".join(f'[[sites]]\norigins = ["https://{i}.example"]\n{s}\n' for i, s in enumerate(sites)))
    return path


def test_sites_map_their_umami_and_matomo_ids_and_say_who_sends_ids_after_consent(tmp_path: Path) -> None:
    settings = load_settings(
        config(
            tmp_path,
            f'domain = "a.com"\numami_website_id = "{UMAMI}"\nmatomo_site_id = 3\nids_after_consent = true',
            'domain = "b.com"\nserver_side = true',
        ),
        env={},
    )
    a, b = settings.sites
    assert (a.umami_website_id, a.matomo_site_id, a.server_side, b.server_side) == (UMAMI.lower(), 3, False, True)
    ids = SiteIds.of(settings)
    assert (dict(ids.umami), dict(ids.matomo), ids.consented_ids) == (
        {UMAMI.lower(): "a.com"},
        {"3": "a.com"},
        {"a.com"},
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('umami_website_id = "site-one"', "umami_website_id must be a UUID"),
        ("matomo_site_id = 0", "matomo_site_id must be a positive whole number"),
        ('matomo_site_id = "3"', "matomo_site_id must be a positive whole number"),
        ('server_side = "yes"', "server_side must be true or false"),
    ],
)
def test_a_bad_door_key_is_a_one_line_error_naming_the_site(tmp_path: Path, line: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        load_settings(config(tmp_path, f'domain = "a.com"\n{line}'), env={})
    assert "site a.com" in str(caught.value) and "\n" not in str(caught.value)


def test_two_sites_cannot_share_an_old_id(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="two sites have the same matomo_site_id"):
        load_settings(
            config(tmp_path, 'domain = "a.com"\nmatomo_site_id = 3', 'domain = "b.com"\nmatomo_site_id = 3'), env={}
        )
