import pytest

from collector.devices.bots import bot_name, is_prefetch
from collector.devices.detect import detect


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


# Agents from Matomo DeviceDetector's fixtures and the crawler-user-agents examples (public corpora).
@pytest.mark.parametrize(
    "ua",
    [
        "Mozilla/5.0 (compatible; meg/0.2; +https://github.com/tomnomnom/meg)",  # Matomo's named generic list
        "help@dataminr.com",
        "My User Agent 1.0",  # tools left with a placeholder agent
        "CustomUserAgent/1.0",
        "Mozilla/5.0 (compatible; CuriousCatgirl Research; +https://curiouscatgirl.cynthia.dev)",
        "WhatsApp/2.19.258 A",  # WhatsApp's link preview fetcher
        (
            "Nokia6820/2.0 (4.83) Profile/MIDP-1.0 Configuration/CLDC-1.0 (compatible; Googlebot-Mobile/2.1; "
            "+http://www.google.com/bot.html)"
        ),
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:77.0) Gecko/20100101 Firefox/77.0 Time/1710630666672",
    ],
)
def test_more_bots_are_caught(ua: str) -> None:
    assert detect(ua).is_bot


@pytest.mark.parametrize(
    "ua",
    [
        "NewsBlur iPhone App v3.6",  # a feed reader app, though crawler lists name NewsBlur's fetcher
        "FeedStation/4.5 (http://www.newsgator.com/; Microsoft Windows)",
        (
            "DS podcast/1.0.5 (be.standaard.audio; build:6; Android 10; Sdk:29; Manufacturer:samsung; "
            "Model: SM-J600FN) OkHttp/4.9.1"
        ),  # an app built on an HTTP library
        "Microsoft Edge Update/1.3.153.47;winhttp",
        "Lynx/2.8.8pre.3 libwww-FM/2.14 SSL-MM/1.4.1 OpenSSL/1.0.1e",  # browsers built on libwww
        "amaya/9.51 libwww/5.4.0",
        "Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; Banca Caboto s.p.a.; rv:11.0) like Gecko",
        (
            "Mozilla/5.0 (Linux; Android 8.1.0; Fever_Plus_J) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/95.0.4638.50 Safari/537.36"
        ),  # a phone named like a feed fetcher
        "DaumMobileApp (LG-KU5400; U; Android 2.3.7|10; ko-kr) DaumMail/1.0.8",
        "WhatsApp/2.6.4 iPhone_OS/4.3.3 Device/iPhone_4",  # the app itself
    ],
)
def test_apps_and_browsers_people_use_are_not_bots(ua: str) -> None:
    d = detect(ua)
    assert not d.is_bot, d.bot_name


def test_empty_agent_is_a_person_only_with_client_hints() -> None:
    hints = {
        "Sec-CH-UA": '"AvastSecureBrowser";v="6.6.0", " Not A;Brand";v="99.0.0.0", "Chromium";v="98.0.4758.101"',
        "Sec-CH-UA-Platform": '"Android"',
        "Sec-CH-UA-Mobile": "?1",
    }
    assert detect("").is_bot
    d = detect("", hints)
    assert not d.is_bot
    assert (d.os_name, d.device_type) == ("Android", "mobile")
