from collector.devices import hardware
from collector.devices.detect import Detector, detect, hints_from_snippet

REDUCED_ANDROID = (
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36"
)
PIXEL_HINTS = {
    "Sec-CH-UA-Model": '"Pixel 7"',
    "Sec-CH-UA-Mobile": "?1",
    "Sec-CH-UA-Platform": '"Android"',
    "Sec-CH-UA-Platform-Version": '"14.0.0"',
    "Sec-CH-UA-Full-Version-List": '"Chromium";v="124.0.6367.82", "Google Chrome";v="124.0.6367.82", '
    '"Not-A.Brand";v="99.0.0.0"',
}
CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
)


def test_iphone_is_an_apple_mobile_on_ios() -> None:
    d = detect(
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.4 Mobile/15E148 Safari/604.1"
    )
    assert (d.device_type, d.device_brand, d.device_model) == ("mobile", "Apple", "iPhone")
    assert (d.os_name, d.os_version, d.browser_name) == ("iOS", "17.4", "Mobile Safari")
    assert not d.is_bot


def test_ipad_is_a_tablet() -> None:
    d = detect(
        "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 "
        "Mobile/15E148 Safari/604.1"
    )
    assert (d.device_type, d.device_brand, d.device_model, d.os_name) == ("tablet", "Apple", "iPad", "iPadOS")


def test_samsung_code_gets_its_marketing_name() -> None:
    d = detect(
        "Mozilla/5.0 (Linux; Android 10; SM-A750FN) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
        "Mobile Safari/537.36"
    )
    assert (d.device_brand, d.device_model, d.device_code) == ("Samsung", "Galaxy A7 (2018)", "SM-A750FN")
    assert (d.device_type, d.os_name, d.os_version, d.browser_name) == ("mobile", "Android", "10", "Chrome Mobile")


def test_android_tablet_without_mobile_token() -> None:
    d = detect(
        "Mozilla/5.0 (Linux; Android 13; SM-X200) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
    )
    assert (d.device_type, d.device_brand) == ("tablet", "Samsung")


def test_reduced_android_ua_alone_reveals_no_model() -> None:
    d = detect(REDUCED_ANDROID)
    assert (d.device_type, d.os_name, d.device_brand, d.device_model, d.device_code) == (
        "mobile",
        "Android",
        None,
        None,
        None,
    )


def test_reduced_android_ua_with_model_hint_is_a_pixel_7() -> None:
    d = detect(REDUCED_ANDROID, PIXEL_HINTS)
    assert (d.device_brand, d.device_model, d.device_code) == ("Google", "Pixel 7", "Pixel 7")
    assert (d.os_version, d.browser_version) == ("14", "124.0.6367.82")


def test_hints_accept_plain_values_and_any_header_case() -> None:
    d = detect(REDUCED_ANDROID, {"sec-ch-ua-model": "SM-A750FN", "SEC-CH-UA-MOBILE": "?1"})
    assert (d.device_brand, d.device_model) == ("Samsung", "Galaxy A7 (2018)")


def test_windows_11_is_told_by_platform_version() -> None:
    assert detect(CHROME_WINDOWS).os_version == "10"
    win11 = detect(CHROME_WINDOWS, {"Sec-CH-UA-Platform": '"Windows"', "Sec-CH-UA-Platform-Version": '"15.0.0"'})
    assert (win11.os_name, win11.os_version, win11.device_type) == ("Windows", "11", "desktop")
    win10 = detect(CHROME_WINDOWS, {"Sec-CH-UA-Platform": '"Windows"', "Sec-CH-UA-Platform-Version": '"10.0.0"'})
    assert win10.os_version == "10"


def test_macos_is_a_desktop() -> None:
    d = detect(
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 "
        "Safari/605.1.15"
    )
    assert (d.device_type, d.device_brand, d.os_name, d.browser_name) == ("desktop", "Apple", "macOS", "Safari")


def test_chromeos_is_a_desktop() -> None:
    d = detect(
        "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
    )
    assert (d.device_type, d.os_name) == ("desktop", "ChromeOS")


def test_smart_tvs_are_tvs() -> None:
    tizen = detect(
        "Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) 85.0.4183.93/6.0 TV "
        "Safari/537.36"
    )
    assert (tizen.device_type, tizen.device_brand, tizen.os_name) == ("tv", "Samsung", "Tizen")
    webos = detect(
        "Mozilla/5.0 (Web0S; Linux/SmartTV) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/79.0.3945.79 "
        "Safari/537.36 WebAppManager"
    )
    assert webos.device_type == "tv"
    fire_tv = detect(
        "Mozilla/5.0 (Linux; Android 9; AFTSSS Build/PS7633) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.6099.230 Mobile Safari/537.36"
    )
    assert (fire_tv.device_type, fire_tv.device_brand) == ("tv", "Amazon")


def test_consoles_are_consoles() -> None:
    ps5 = detect("Mozilla/5.0 (PlayStation 5 3.11) AppleWebKit/605.1.15 (KHTML, like Gecko)")
    assert (ps5.device_type, ps5.device_brand, ps5.device_model) == ("console", "Sony", "PlayStation 5")
    xbox = detect(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; Xbox; Xbox One) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36 Edge/44.18363.8131"
    )
    assert (xbox.device_type, xbox.device_brand) == ("console", "Microsoft")


def test_watch_is_a_wearable() -> None:
    d = detect(
        "Mozilla/5.0 (Linux; Android 11; SM-R875F) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Mobile Safari/537.36"
    )
    assert (d.device_type, d.device_brand) == ("wearable", "Samsung")


def test_android_web_view_by_wv_token_and_by_requested_with() -> None:
    wv = (
        "Mozilla/5.0 (Linux; Android 12; SM-G991B Build/SP1A.210812.016; wv) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Version/4.0 Chrome/124.0.6367.82 Mobile Safari/537.36"
    )
    assert detect(wv).browser_name == "Chrome Mobile WebView"
    plain = (
        "Mozilla/5.0 (Linux; Android 12; SM-G991B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
        "Mobile Safari/537.36"
    )
    assert detect(plain).browser_name == "Chrome Mobile"
    d = detect(plain, {"X-Requested-With": "com.example.unknown"})
    assert (d.browser_name, d.device_model) == ("Chrome Mobile WebView", "Galaxy S21 5G")


def test_a_web_view_is_named_after_the_app_its_requested_with_names() -> None:
    wv = (
        "Mozilla/5.0 (Linux; Android 12; SM-G991B Build/SP1A.210812.016; wv) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Version/4.0 Chrome/124.0.6367.82 Mobile Safari/537.36"
    )
    assert detect(wv, {"X-Requested-With": "org.telegram.messenger"}).browser_name == "Telegram"
    assert detect(wv, {"X-Requested-With": "com.instagram.android"}).browser_name == "Instagram"
    d = detect(wv, {"X-Requested-With": "com.facebook.katana"})
    assert (d.browser_name, d.browser_version, d.is_bot) == ("Facebook", None, False)
    snapchat = wv.replace("Mobile Safari/537.36", "Mobile Safari/537.36 Snapchat/11.59.0.35 (like Safari/604.1)")
    d = detect(snapchat, {"X-Requested-With": "com.snapchat.android"})
    assert (d.browser_name, d.browser_version) == ("Snapchat", "11.59.0.35")


def test_unknown_fields_are_none() -> None:
    d = detect("SomethingNobodyKnows/1.0 (no details)")
    assert d.device_brand is None and d.device_model is None and d.os_name is None


def test_snippet_values_become_hint_headers() -> None:
    hints = hints_from_snippet({"model": "Pixel 7", "platform": "Android", "platformVersion": "14.0.0", "mobile": True})
    assert hints == {
        "Sec-CH-UA-Model": '"Pixel 7"',
        "Sec-CH-UA-Platform": '"Android"',
        "Sec-CH-UA-Platform-Version": '"14.0.0"',
        "Sec-CH-UA-Mobile": "?1",
    }
    assert detect(REDUCED_ANDROID, hints).device_model == "Pixel 7"
    assert hints_from_snippet({"model": "", "mobile": "yes"}) == {}


def test_detector_caches_by_agent_and_hints() -> None:
    detector = Detector(cache_size=2)
    first = detector.detect(REDUCED_ANDROID, PIXEL_HINTS)
    assert detector.detect(REDUCED_ANDROID, PIXEL_HINTS) is first
    assert detector.detect(REDUCED_ANDROID).device_model is None
    assert (detector.hits, detector.misses) == (1, 2)
    detector.detect(CHROME_WINDOWS)
    detector.detect(REDUCED_ANDROID, PIXEL_HINTS)
    assert detector.misses == 4
    assert len(detector.cache) == 2
    assert detector.hit_rate == 1 / 5


def test_tv_browser_is_named_not_hbbtv() -> None:
    d = detect(
        "Mozilla/5.0 (Web0S; Linux/SmartTV) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/68.0.3440.106 "
        "Safari/537.36 HbbTV/1.5.1 (+DRM; LGE/ATMACA/SUNNY; SN50FMN242-0246; WEBOS5.0 04.50.60; W50_K6LP; DTV_C20P)"
    )
    assert (d.device_type, d.os_name, d.browser_name) == ("tv", "webOS", "Chrome")


def test_browsers_uap_core_takes_for_a_web_view() -> None:
    quark = detect(
        "Mozilla/5.0 (Linux; U; Android 12; zh-CN; 22101316C Build/SP1A.210812.016) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Version/4.0 Chrome/78.0.3904.108 Quark/6.0.8.236 Mobile Safari/537.36"
    )
    assert (quark.browser_name, quark.browser_version) == ("Quark", "6.0.8.236")
    yandex = detect(
        "Mozilla/5.0 (Linux; Android 10; STI6110 Build/QT; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 "
        "Chrome/124.0.6367.123 YaBrowser/24.10.0.358 (lite) TV Safari/537.36"
    )
    assert (yandex.browser_name, yandex.device_type) == ("Yandex Browser Lite", "tv")


def test_client_hints_brand_names_the_browser() -> None:
    d = detect(
        REDUCED_ANDROID,
        {"Sec-CH-UA": '"DuckDuckGo";v="123", "Not:A-Brand";v="8", "Chromium";v="123"', "Sec-CH-UA-Mobile": "?1"},
    )
    assert d.browser_name == "DuckDuckGo Privacy Browser"
    assert detect(REDUCED_ANDROID, PIXEL_HINTS).browser_name == "Chrome Mobile"


def test_systems_uap_core_reports_as_their_base() -> None:
    harmony = detect(
        "Mozilla/5.0 (Linux; Android 10; CLT-AL01 Build/HUAWEICLT-AL01; wv) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Version/4.0 Chrome/76.0.3809.89 Mobile Safari/537.36 T7/12.24 BDOS/1.0 (HarmonyOS 2.2.0) SP-engine/2.36.0 "
        "baiduboxapp/12.25.0.10 (Baidu; P1 10) NABar/1.0"
    )
    assert (harmony.os_name, harmony.os_version, harmony.device_brand) == ("HarmonyOS", "2.2.0", "Huawei")
    ce = detect("Mozilla/4.0 (compatible; MSIE 6.0; Windows CE; IEMobile 6.12; es-US; KIN.Two 1.0)")
    assert ce.os_name == "Windows CE"
    java = detect("BenQ-CF61/1.00/WAP2.0/MIDP2.0/CLDC1.0 UP.Browser/6.3.0.4.c.1.102 (GUI) MMP/2.0")
    assert (java.os_name, java.device_type, java.is_bot) == ("Java ME", "mobile", False)


def test_chromium_os_platform_hint_is_a_chromebook() -> None:
    d = detect(
        "Mozilla/5.0 (X11; CrOS x86_64 14150.90.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/94.0.4606.126 "
        "Safari/537.36",
        {"Sec-CH-UA-Platform": '"Chromium OS"', "Sec-CH-UA-Mobile": "?0"},
    )
    assert (d.os_name, d.device_type) == ("ChromeOS", "desktop")


def test_known_phone_without_mobile_token_stays_a_phone() -> None:
    # A Galaxy Z Fold3 web view sends no "Mobile"; the device rules know the model is a phone.
    d = detect(
        "Mozilla/5.0 (Linux; Android 11; SM-F926N Build/RP1A.200720.012; wv) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Version/4.0 Chrome/94.0.4606.85 Safari/537.36"
    )
    assert (d.device_brand, d.device_type) == ("Samsung", "mobile")


def test_a_brands_model_rules_load_when_the_brand_first_shows_up() -> None:
    db = hardware.Database()
    assert not db.models
    found = db.lookup("Mozilla/5.0 (Linux; Android 9; SM-A750F) AppleWebKit/537.36 Chrome/120.0 Mobile Safari/537.36")
    assert found == hardware.Hardware("Samsung", "Galaxy A7 (2018)", "smartphone")
    assert [rules.rules[0].brand for rules in db.models.values()] == ["Samsung"]
