// The collector snippet: page views and custom events, first-party, no cookies, nothing stored until consent.
// Readable source; `make snippet` minifies it into snippet/dist/collector.js (committed, served as is).
((w, d, nav, loc) => {
  const script = d.currentScript;
  let queued = w.collector;
  if (!script || (queued && queued.ok)) return; // not a classic script, or the snippet already runs on this page

  const ID_KEY = "collector_id";
  const endpoint = new URL("../api/event", script.src); // the collector's own origin (and path prefix), nothing else
  const site = script.getAttribute("data-site") || loc.hostname;
  // file: pages have an empty hostname.
  const local = /^(127\.|\[::1\]$|$)|localhost$/.test(loc.hostname);
  if (local && !script.hasAttribute("data-allow-local")) return;

  // Global Privacy Control or Do Not Track: no id, no Client Hints, and the server keeps the event only in anonymous form.
  const gpc = nav.globalPrivacyControl || nav.doNotTrack == "1";
  const uaData = !gpc && nav.userAgentData;
  // Reduced UAs ("Android 10; K") hide the device, the high-entropy hints name it. Asked once, awaited by each send.
  // The answer holds mobile, platform, model and platformVersion, plus the brands list that the server does not take.
  const hints = Promise.resolve(uaData && uaData.getHighEntropyValues(["model", "platformVersion"])).then(
    (ch) => ch && (delete ch.brands, ch),
    () => {}
  );
  let referrer = d.referrer;
  let lastPage, lastPath;

  // localStorage, never throwing: read (no value), write (a string) or remove (false).
  const storage = (key, value) => {
    try {
      const s = w.localStorage;
      return value === false ? delete s[key] : value ? (s[key] = value) : s[key];
    } catch (e) {}
  };

  // fetch with keepalive outlives the page as a beacon does, and unlike a beacon it shows the answer: an event the
  // collector did not store (429, 5xx, or no answer at all) is sent once more 5 s later, if the page is still open.
  // A string body goes as text/plain: no CORS preflight.
  const post = (body, again) =>
    fetch(endpoint, { method: "POST", body, keepalive: true })
      .then((r) => {
        if (r.status == 429 || r.status > 499) throw 0;
      })
      .catch(() => again && setTimeout(post, 5e3, body));

  const send = (name, props) => {
    if (storage("collector_ignore")) return; // the site owner's own browser
    const event = {
      d: site,
      n: name,
      u: loc.href,
      r: referrer,
      w: screen.width,
      h: screen.height,
      l: nav.language,
      tz: Intl.DateTimeFormat().resolvedOptions().timeZone,
      p: props,
      wd: nav.webdriver, // automation: the server drops the event and counts it
    };
    hints.then((ch) => {
      try {
        if (gpc) event.gpc = true;
        else (event.ch = ch), (event.id = storage(ID_KEY));
        post(JSON.stringify(event), 1);
      } catch (e) {}
    });
  };

  // Count a page view when the page changed: path and query for pushState and popstate, the path alone for
  // replaceState; `force` for a page restored from the back/forward cache, where no script runs again.
  const pageview = (force, pathOnly) => {
    const path = loc.pathname;
    const page = path + loc.search;
    if (force || (pathOnly ? path != lastPath : page != lastPage)) {
      send(); // the name defaults to "pageview" on the server
      referrer = loc.href;
    }
    lastPage = page;
    lastPath = path;
  };

  const wrap = (method, pathOnly) => {
    const original = history[method];
    history[method] = function () {
      original.apply(this, arguments); // both return undefined
      pageview(0, pathOnly);
    };
  };

  const collector = (command, a, b) => {
    if (command == "event" && a) send(a, b);
    if (command == "consent") storage(ID_KEY, a ? storage(ID_KEY) || crypto.getRandomValues(new Uint32Array(4)).join("") : false);
  };
  collector.ok = 1;

  wrap("pushState");
  wrap("replaceState", 1);
  // popstate has no `persisted`; the first pageshow (persisted false) finds the page already counted.
  const onShow = (e) => pageview(e.persisted);
  w.addEventListener("popstate", onShow);
  w.addEventListener("pageshow", onShow);
  w.collector = collector;
  pageview();
  // Calls made before the script loaded (the one-line stub queued them in collector.q), in order.
  for (const args of (queued && queued.q) || []) collector(...args);
})(window, document, navigator, location);
