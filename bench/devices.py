"""Accuracy and speed of device detection candidates on public corpora.

    .venv/bin/python bench/devices.py [--sample N] [--seed S] [--quick]

Corpora: uap-core's tests (Debian package `uap-core`, fetched into bench/corpora/ on first run),
Matomo DeviceDetector's fixtures (shipped in the `device-detector` wheel), and the example agents of
the `crawler-user-agents` package (bots only). Every candidate parses the same seeded sample of each
corpus; ours also runs on the full corpora.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from collector.devices import detect as devices  # noqa: E402

CORPORA = ROOT / "bench" / "corpora"
UAP = CORPORA / "uap-core" / "usr" / "share" / "uap-core" / "tests"
FIELDS = ("type", "brand", "model", "code", "os", "os_version", "browser", "browser_version")
GENERIC = {"generic", "generic_android", "generic_android_tablet", "generic_inettv"}

# Spelling differences between the projects' names for the same product, compared after folding
# (lower case, accents and punctuation dropped). Each pair names one product; see docs/devices.md.
ALIASES = {
    # operating systems
    "macosx": "macos",  # Apple renamed Mac OS X to OS X, then macOS
    "mac": "macos",  # Matomo's "Mac" is macOS
    "gnulinux": "linux",  # Matomo's "GNU/Linux"
    "web0s": "webos",  # LG's webOS, spelled with a zero in its agents, which uap-core copies
    # browsers
    "microsoftedge": "edge",  # uap-core "Edge", Matomo "Microsoft Edge"
    "edgemobile": "edge",  # uap-core's name for Edge on Android (EdgA), Matomo's "Microsoft Edge"
    "samsungbrowser": "samsunginternet",  # Samsung Internet, the app's old and new name
    "chromewebview": "chromemobilewebview",  # Android System WebView
    "androidwebview": "chromemobilewebview",  # the same, as its Client Hints brand calls it
    "internetexplorer": "ie",
    "chromeios": "chromemobileios",  # Chrome on iOS (CriOS)
    "androidbrowser": "android",  # the AOSP stock browser: uap-core "Android", Matomo "Android Browser"
    "mibrowser": "miuibrowser",  # Xiaomi's browser, MiuiBrowser in its agents, sold as Mi Browser
    "qqbrowsermobile": "qqbrowser",  # uap-core's name for the Android edition (MQQBrowser)
    "mobilesilk": "amazonsilk",  # Amazon Silk on Fire devices
    "upbrowser": "openwavemobilebrowser",  # Openwave's browser, UP.Browser in its agents
    "puffinwebbrowser": "puffin",
    "blackberrywebkit": "blackberrybrowser",  # BlackBerry's WebKit browser (OS 6-7)
    "vewdbrowser": "operadevices",  # Opera TV / Opera Devices SDK, renamed Vewd in 2017
    "epiphany": "gnomeweb",  # GNOME Web's name until 2012 and still its agent token
    "duckduckgomobile": "duckduckgoprivacybrowser",
    "telecabrowser": "obigo",  # Obigo is Teleca's browser
    "ecosiaandroid": "ecosia",
    "baiduexplorer": "baidubrowser",
    "atombrowser": "atom",
    "espial": "espialtvbrowser",
    "seznamprohlizec": "seznambrowser",  # "prohlížeč" is Czech for browser
    "nokiaserviceswapbrowser": "nokiabrowser",
    "wosbrowser": "webosbrowser",  # Palm webOS's browser
    "aloha": "alohabrowser",
    # device brands
    "rim": "blackberry",  # Research In Motion, renamed BlackBerry Ltd in 2013
    "sonyericsson": "sony",  # Sony Ericsson became Sony Mobile in 2012; Matomo files both under Sony
    "pointofview": "pov",
    "tecnomobile": "tecno",
    "imomobile": "imo",
    "barnesnoble": "nook",  # Nook is Barnes & Noble's device line
    "mantamultimedia": "manta",
    "uscellular": "cellular",  # uap-core cuts "U.S. Cellular" (USCC-) to "Cellular"
    "myphonepl": "myphone",  # uap-core does not tell the Polish and the Philippine myPhone apart
    "myphoneph": "myphone",
}

Record = dict[str, Any]
# Name fields a corpus may leave unknown ("Other"); such cases grade nothing unless --strict, where an
# answer to them counts as wrong.
NAMED = ("brand", "model", "code", "os", "os_version", "browser", "browser_version")
STRICT = False


@dataclass
class Case:
    ua: str
    hints: dict[str, str] | None
    truth: Record


@dataclass
class Score:
    right: dict[str, int] = field(default_factory=dict)
    seen: dict[str, int] = field(default_factory=dict)
    bots: int = 0
    caught: int = 0
    humans: int = 0
    false_bots: list[str] = field(default_factory=list)
    disputed: int = 0
    unknown: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    parses: int = 0


def fold(value: object) -> str | None:
    if value is None or value == "" or value == "Other" or value == "Unknown":
        return None
    ascii_text = unicodedata.normalize("NFKD", str(value)).encode("ascii", "ignore").decode()
    text = re.sub(r"[^a-z0-9]", "", ascii_text.lower())
    return ALIASES.get(text, text) or None


def major(value: object) -> str | None:
    return str(value).split(".")[0] if value not in (None, "") else None


def ensure_uap() -> None:
    if (UAP / "test_device.yaml").exists():
        return
    CORPORA.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["apt-get", "download", "uap-core"], cwd=tmp, check=True, capture_output=True)
        deb = next(Path(tmp).glob("uap-core_*.deb"))
        subprocess.run(["dpkg-deb", "-x", str(deb), str(CORPORA / "uap-core")], check=True)


def load_yaml(path: Path | Any) -> Any:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)


def uap_cases() -> dict[str, list[Case]]:
    ensure_uap()
    out: dict[str, list[Case]] = {"uap device": [], "uap browser": [], "uap os": []}
    for c in load_yaml(UAP / "test_device.yaml")["test_cases"]:
        bot = c["family"] == "Spider"
        brand = None if (c.get("brand") or "").lower() in GENERIC else c.get("brand")
        code = None if c.get("model") in devices.GENERIC_MODELS or brand is None else c.get("model")
        truth = {"bot": bot} if bot else {"bot": False, "brand": brand, "code": code}
        out["uap device"].append(Case(c["user_agent_string"], None, truth))
    for c in load_yaml(UAP / "test_ua.yaml")["test_cases"]:
        truth = {"browser": c["family"], "browser_version": c.get("major")}
        out["uap browser"].append(Case(c["user_agent_string"], None, truth))
    for c in load_yaml(UAP / "test_os.yaml")["test_cases"]:
        out["uap os"].append(Case(c["user_agent_string"], None, {"os": c["family"], "os_version": c.get("major")}))
    return out


# A few of Matomo's fixture files, for --quick: parsing all of them takes most of a minute.
QUICK_FIXTURES = frozenset({"desktop.yml", "smartphone-1.yml", "tablet-1.yml", "tv.yml"})


def matomo_cases(files: frozenset[str] | None = None) -> dict[str, list[Case]]:
    """Matomo's fixtures as cases: every file, or only the named ones."""
    folder = resources.files("device_detector").joinpath("tests", "fixtures", "upstream")
    humans: list[Case] = []
    bots: list[Case] = []
    for path in sorted(folder.iterdir(), key=lambda p: p.name):
        if not path.name.endswith(".yml") or (files is not None and path.name not in files):
            continue
        for c in load_yaml(path) or []:
            if path.name == "bots.yml":
                bots.append(Case(str(c["user_agent"]), None, {"bot": True}))
                continue
            client = c.get("client") or {}
            if client.get("type") == "library":
                bots.append(Case(str(c["user_agent"]), c.get("headers"), {"bot": True}))
                continue
            device = c.get("device") or {}
            os = c.get("os") or {}
            truth: Record = {
                "bot": False,
                "type": devices.KINDS.get(device.get("type") or "") if device.get("type") else None,
                "brand": device.get("brand") or None,
                "model": device.get("model") or None,
                "os": os.get("name") or None,
                "os_version": major(os.get("version")),
            }
            # A web view's browser is the app its X-Requested-With header names, as Matomo's client is.
            in_app = client.get("type") == "mobile app" and "x-requested-with" in map(str.lower, c.get("headers") or {})
            if client.get("type") == "browser" or in_app:
                truth["browser"] = client.get("name")
                truth["browser_version"] = major(client.get("version"))
            humans.append(Case(str(c["user_agent"]), c.get("headers"), truth))
    return {"matomo devices": humans, "matomo bots": bots, "matomo reduced+hints": reduced(humans)}


ANDROID_MODEL = re.compile(r"Android (\d+)[^;)]*; ([^;)]+?)(?: Build/[^;)]*)?\)")
CHROME = re.compile(r"Chrome/(\d+)[\d.]*")


def reduced(humans: list[Case]) -> list[Case]:
    """Matomo's Android Chrome agents as Chrome 110+ sends them: model `K`, the real one only in the hints."""
    out = []
    for case in humans:
        m = ANDROID_MODEL.search(case.ua)
        if not m or case.hints or case.truth.get("browser") != "Chrome Mobile" or not case.truth.get("model"):
            continue
        ua = case.ua[: m.start()] + f"Android {m.group(1)}; K)" + case.ua[m.end() :]
        ua = CHROME.sub(lambda g: f"Chrome/{g.group(1)}.0.0.0", ua)
        hints = {"Sec-CH-UA-Model": f'"{m.group(2)}"', "Sec-CH-UA-Mobile": "?1", "Sec-CH-UA-Platform": '"Android"'}
        truth = {k: case.truth[k] for k in ("bot", "type", "brand", "model", "os")}
        out.append(Case(ua, hints, truth))
    return out


def crawler_cases() -> list[Case]:
    path = resources.files("crawleruseragents").joinpath("crawler-user-agents.json")
    entries = json.loads(path.read_text(encoding="utf-8"))
    return [Case(ua, None, {"bot": True}) for e in entries for ua in e.get("instances", [])]


def ours(ua: str, hints: Mapping[str, str] | None) -> Record:
    d = devices.detect(ua, hints)
    return {
        "bot": d.is_bot,
        "type": d.device_type,
        "brand": d.device_brand,
        "model": d.device_model,
        "code": d.device_code,
        "os": d.os_name,
        "os_version": d.os_version,
        "browser": d.browser_name,
        "browser_version": d.browser_version,
    }


def uap_candidate() -> Callable[[str, Mapping[str, str] | None], Record]:
    from ua_parser import Domain
    from ua_parser.loaders import load_builtins
    from ua_parser.regex import Resolver

    resolver = Resolver(load_builtins())

    def parse(ua: str, hints: Mapping[str, str] | None) -> Record:
        r = resolver(ua, Domain.ALL)
        dev, os, agent = r.device, r.os, r.user_agent
        return {
            "bot": bool(dev and dev.family == "Spider"),
            "brand": dev.brand if dev else None,
            "code": dev.model if dev else None,
            "os": os.family if os else None,
            "os_version": os.major if os else None,
            "browser": agent.family if agent else None,
            "browser_version": agent.major if agent else None,
        }

    return parse


def user_agents_candidate() -> Callable[[str, Mapping[str, str] | None], Record]:
    import user_agents  # type: ignore[import-untyped]

    def parse(ua: str, hints: Mapping[str, str] | None) -> Record:
        u = user_agents.parse(ua)
        kind = "mobile" if u.is_mobile else "tablet" if u.is_tablet else "desktop" if u.is_pc else None
        return {
            "bot": u.is_bot,
            "type": kind,
            "brand": u.device.brand,
            "code": u.device.model,
            "os": u.os.family,
            "os_version": major(u.os.version_string),
            "browser": u.browser.family,
            "browser_version": major(u.browser.version_string),
        }

    return parse


def device_detector_candidate() -> Callable[[str, Mapping[str, str] | None], Record]:
    from device_detector import DeviceDetector  # type: ignore[import-untyped]

    def parse(ua: str, hints: Mapping[str, str] | None) -> Record:
        d = DeviceDetector(ua, headers=dict(hints) if hints else None, check_cache=False).parse()
        kind = str(d.device_type() or "")
        return {
            "bot": d.is_bot() or d.client_type() == "library",
            "type": devices.KINDS.get(kind.lower()),
            "brand": d.device_brand(),
            "model": d.device_model(),
            "os": d.os_name(),
            "os_version": major(d.os_version()),
            "browser": d.client_name() if d.client_type() == "browser" else None,
            "browser_version": major(d.client_version()),
        }

    return parse


def compare(field_name: str, truth: object, got: object) -> bool:
    if field_name in ("os_version", "browser_version"):
        return major(truth) == major(got)
    if field_name == "type":
        return truth == got
    return fold(truth) == fold(got)


def disputed(case: Case) -> bool:
    """A "human" agent that Matomo's own parser calls a bot or an HTTP library: the corpora disagree."""
    from device_detector import DeviceDetector

    d = DeviceDetector(case.ua, headers=dict(case.hints) if case.hints else None, check_cache=False).parse()
    return bool(d.is_bot() or d.client_type() == "library")


def run(parse: Callable[[str, Mapping[str, str] | None], Record], cases: list[Case], score: Score) -> None:
    for case in cases:
        start = time.perf_counter()
        got = parse(case.ua, case.hints)
        score.seconds += time.perf_counter() - start
        score.parses += 1
        if case.truth.get("bot"):
            score.bots += 1
            score.caught += bool(got["bot"])
            continue
        if "bot" in case.truth:
            score.humans += 1
            if got["bot"]:
                score.false_bots.append(case.ua)
                score.disputed += disputed(case)
                continue
        for name in FIELDS:
            if name in case.truth and name in got:
                if not STRICT and name in NAMED and fold(case.truth[name]) is None:
                    score.unknown[name] = score.unknown.get(name, 0) + 1
                    continue
                score.seen[name] = score.seen.get(name, 0) + 1
                score.right[name] = score.right.get(name, 0) + compare(name, case.truth[name], got[name])


def report(title: str, scores: dict[str, Score]) -> None:
    print(f"\n### {title}\n")
    print("| candidate | n | " + " | ".join(FIELDS) + " | bots caught | false bots | µs/parse |")
    print("|---" * (len(FIELDS) + 5) + "|")
    for name, s in scores.items():
        cells = [f"{100 * s.right[f] / s.seen[f]:.1f}" if s.seen.get(f) else "n/a" for f in FIELDS]
        bots = f"{s.caught}/{s.bots}" if s.bots else "n/a"
        humans = f"{len(s.false_bots)}/{s.humans}" if s.humans else "n/a"
        humans += f" ({s.disputed} disputed)" if s.disputed else ""
        micro = 1e6 * s.seconds / max(s.parses, 1)
        print(f"| {name} | {s.parses} | " + " | ".join(cells) + f" | {bots} | {humans} | {micro:.0f} |")
    for name, s in scores.items():
        if s.unknown:
            print(
                f"\n{name}: not scored where the corpus names nothing: "
                + ", ".join(f"{f} {n}" for f, n in s.unknown.items())
            )


def cache_timing() -> None:
    corpus = [c for cases in uap_cases().values() for c in cases]
    detector = devices.Detector(cache_size=len(corpus) + 1)
    timings = []
    for _ in range(2):  # misses, then hits; wall clock and this process's CPU time (other jobs inflate the first)
        start, cpu = time.perf_counter(), time.process_time()
        for c in corpus:
            detector.detect(c.ua, c.hints)
        timings += [(time.perf_counter() - start) / len(corpus), (time.process_time() - cpu) / len(corpus)]
    miss, miss_cpu, hit, hit_cpu = (1e6 * t for t in timings)
    print(
        f"\nDetector over all uap-core agents: miss {miss:.0f} µs (CPU {miss_cpu:.0f} µs), hit {hit:.2f} µs"
        f" (CPU {hit_cpu:.2f} µs), hit rate {detector.hit_rate:.2f}, load average {os.getloadavg()[0]:.1f}"
    )


def quick(seed: int) -> None:
    """Seconds: ours on a seeded sample of a few of the corpora's files shipped in packages (no download)."""
    start = time.perf_counter()
    devices.warm()
    print(f"ours: rules loaded in {time.perf_counter() - start:.1f} s")
    rng = random.Random(seed)
    corpora = {**matomo_cases(QUICK_FIXTURES), "crawler-user-agents": crawler_cases()}
    scores = {}
    for corpus, cases in corpora.items():
        scores[corpus] = Score()
        run(ours, rng.sample(cases, min(100, len(cases))), scores[corpus])
    report("quick: 100 cases a corpus", scores)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sample", type=int, default=250, help="cases per corpus for every candidate")
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--show-false-bots", action="store_true")
    parser.add_argument("--strict", action="store_true", help="score names a corpus leaves unknown too")
    parser.add_argument(
        "--quick", action="store_true", help="ours only, on 100 cases of Matomo's fixtures and crawlers"
    )
    args = parser.parse_args()
    global STRICT
    STRICT = args.strict
    if args.quick:
        quick(args.seed)
        return

    start, cpu = time.perf_counter(), time.process_time()
    devices.warm()
    print(f"ours: rules loaded in {time.perf_counter() - start:.1f} s (CPU {time.process_time() - cpu:.1f} s)")
    corpora = {**uap_cases(), **matomo_cases(), "crawler-user-agents": crawler_cases()}
    rng = random.Random(args.seed)
    samples = {k: rng.sample(v, min(args.sample, len(v))) for k, v in corpora.items()}
    candidates = {
        "ours": ours,
        "ua-parser 1.0 (rust)": uap_candidate(),
        "user-agents 2.2": user_agents_candidate(),
        "device-detector 6.5": device_detector_candidate(),
    }
    for corpus, cases in samples.items():
        scores = {}
        for name, parse in candidates.items():
            parse(cases[0].ua, cases[0].hints)
            scores[name] = Score()
            run(parse, cases, scores[name])
        report(f"{corpus}: seeded sample of {len(cases)} of {len(corpora[corpus])}", scores)
    print("\n## ours on the full corpora")
    full = {}
    for corpus, cases in corpora.items():
        full[corpus] = Score()
        run(ours, cases, full[corpus])
    report("all cases", full)
    if args.show_false_bots:
        for corpus, score in full.items():
            for ua in score.false_bots:
                print(f"false bot [{corpus}]: {ua}")
    cache_timing()
    print(f"\nbench took {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
