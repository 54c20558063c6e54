import pytest

from collector.bots import bot_name, is_prefetch
from collector.devices import detect


@pytest.mark.parametrize(
    ("ua", "name"),
    [
        ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "Googlebot"),
        ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", "BingBot"),
        ("curl/8.5.0", "curl"),
        ("python-requests/2.31.0", "Python Requests"),
        ("Go-http-client/1.1", "Go-http-client"),
        ("Wget/1.21.3", "Wget"),
        (
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0.0.0 "
                "Safari/537.36"
            ),
            "HeadlessChrome",
        ),
        (
            "Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) PhantomJS/2.1.1 Safari/538.1",
            "PhantomJS",
        ),
        ("", "Empty user agent"),
        ("   ", "Empty user agent"),
        ("Mozilla/5.0 (compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)", "UptimeRobot"),
        ("SomeCompanyCrawler/0.3", "SomeCompanyCrawler"),
    ],
)
def test_known_bots_are_named(ua: str, name: str) -> None:
    d = detect(ua)
    assert d.is_bot
    assert d.bot_name == name


@pytest.mark.parametrize(
    "ua",
    [
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
            "Safari/537.36"
        ),
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.4; rv:125.0) Gecko/20100101 Firefox/125.0",
        (
            "Mozilla/5.0 (Linux; Android 8.1.0; XBot Junior) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/70.0.3538.110 "
            "Mobile Safari/537.36"
        ),
        (
            "Mozilla/5.0 (Linux; Android 13; CUBOT KingKong 9) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
            "Mobile Safari/537.36"
        ),
        "SonyEricssonW580i/R4EA Java/SEMC-Java/2.0 Profile/MIDP-2.0 Configuration/CLDC-1.1",
    ],
)
def test_people_are_not_bots(ua: str) -> None:
    d = detect(ua)
    assert not d.is_bot
    assert d.bot_name is None


def test_bots_keep_what_the_agent_says() -> None:
    d = detect("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)")
    assert d.device_type is None
    assert d.browser_name == "Googlebot"


def test_generic_net_can_be_skipped() -> None:
    assert bot_name("SomeCompanyCrawler/0.3") == "SomeCompanyCrawler"
    assert bot_name("SomeCompanyCrawler/0.3", generic=False) is None


def test_prefetch_headers() -> None:
    assert is_prefetch({"Sec-Purpose": "prefetch"})
    assert is_prefetch({"purpose": "prefetch"})
    assert is_prefetch({"X-Moz": "prefetch"})
    assert not is_prefetch({"Sec-Purpose": "prefetch;prerender"})
    assert not is_prefetch({"Accept": "text/html"})


def test_prefetch_hint_makes_a_bot() -> None:
    chrome = (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
        "Safari/537.36"
    )
    d = detect(chrome, {"Sec-Purpose": "prefetch"})
    assert (d.is_bot, d.bot_name) == (True, "Prefetch")
    assert not detect(chrome).is_bot
