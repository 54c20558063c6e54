from __future__ import annotations

from pathlib import Path

import pytest

from collector.settings import ConfigError, Funnel, Goal, Settings, load_settings

SITE = """
[[sites]]
domain = "example.com"
origins = ["https://example.com"]
"""


def settings(tmp_path: Path, extra: str) -> Settings:
    config = tmp_path / "collector.toml"
    config.write_text(SITE + extra)
    return load_settings(config, env={}, data_dir=tmp_path)


def test_goals_and_funnels_belong_to_a_site(tmp_path: Path) -> None:
    loaded = settings(
        tmp_path,
        """
[[sites.goals]]
name = "Signed up"
goal = "event:signup"

[[sites.funnels]]
name = "Pricing to signup"
steps = ["/pricing", "/signup", "event:signup"]
""",
    )
    site = loaded.sites[0]
    assert site.goals == (Goal("Signed up", "event:signup"),)
    assert site.funnels == (Funnel("Pricing to signup", ("/pricing", "/signup", "event:signup")),)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('[[sites.goals]]\nname = "x"\ngoal = "signup"\n', "'signup' is not a goal"),
        ('[[sites.goals]]\ngoal = "/a"\n', "needs a name"),
        ('[[sites.funnels]]\nname = "f"\nsteps = ["/a"]\n', "steps must be a list of 2 to 8 goals"),
        ('[[sites.funnels]]\nname = "f"\nsteps = ["/a", "/b"]\ncolour = 1\n', "unknown key"),
    ],
)
def test_a_bad_goal_or_funnel_is_one_line_naming_it(tmp_path: Path, extra: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        settings(tmp_path, extra)
    assert "example.com" in str(caught.value) and "\n" not in str(caught.value)
