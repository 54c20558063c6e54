from __future__ import annotations

import pytest

from collector.errors import ClientError
from collector.stats import goals


def test_a_goal_is_a_path_or_an_event() -> None:
    assert goals.goal(" /thank-you ") == "/thank-you"
    assert goals.goal("event: signup") == "event:signup"
    assert goals.label("event:signup") == "signup"
    assert goals.label("/thank-you") == "/thank-you"


@pytest.mark.parametrize("text", ["thank-you", "event:", "", "/a\x07"])
def test_a_bad_goal_names_the_goal(text: str) -> None:
    with pytest.raises(ClientError) as caught:
        goals.goal(text)
    assert caught.value.field == "goal"


def test_steps_are_two_to_eight() -> None:
    assert goals.steps("/pricing,/signup,event:signup") == ["/pricing", "/signup", "event:signup"]
    for text in ("/pricing", ",".join(f"/s{i}" for i in range(9))):
        with pytest.raises(ClientError, match="steps takes 2 to 8 comma-separated steps") as caught:
            goals.steps(text)
        assert caught.value.field == "steps"
    with pytest.raises(ClientError, match="steps must be a path") as caught:
        goals.steps("/a,b")
