// The dashboard page: reads its state from the URL, asks /dashboard/api/report for every panel at once,
// and draws them with plain DOM and SVG. No inline styles or scripts: the page's CSP forbids them.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const LIVE_SECONDS = 5;
const FILTER_LABELS = {
  device_type: "Device type", device_brand: "Brand", device_model: "Model", os_name: "OS",
  browser_name: "Browser", screen_class: "Screen", screen_size: "Screen size", language: "Language",
  timezone: "Time zone", path: "Page", entry_page: "Entry page", referrer: "Referrer",
  utm_source: "Campaign source", event: "Event",
};
const fmt = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
const compact = new Intl.NumberFormat(undefined, { notation: "compact", maximumFractionDigits: 1 });
const $ = (sel, root = document) => root.querySelector(sel);

function el(tag, attrs = {}, ...children) {
  const node = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "text") node.textContent = v;
    else if (k === "on") for (const [ev, fn] of Object.entries(v)) node.addEventListener(ev, fn);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

function num(v) { if (typeof v === "string") return v; return v === null || v === undefined ? "–" : (Math.abs(v) >= 10000 ? compact.format(v) : fmt.format(v)); }

// --- state kept in the URL, so a view can be shared

function readState() {
  const q = new URLSearchParams(location.search);
  const filters = {};
  for (const name of Object.keys(FILTER_LABELS)) if (q.get(name)) filters[name] = q.get(name);
  return {
    site: q.get("site") || $("#site").value,
    period: q.get("period") || (q.get("from") ? "custom" : "30d"),
    from: q.get("from") || "", to: q.get("to") || "",
    compare: q.get("compare") !== "0",
    filters,
    exprs: q.getAll("filter"),
  };
}

function query(state) {
  const q = new URLSearchParams({ site: state.site, period: state.period });
  if (state.period === "custom") { if (state.from) q.set("from", state.from); if (state.to) q.set("to", state.to); }
  if (!state.compare) q.set("compare", "0");
  for (const [k, v] of Object.entries(state.filters)) q.set(k, v);
  for (const e of state.exprs || []) q.append("filter", e);
  return q;
}

function go(change) {
  const state = Object.assign(readState(), change);
  history.pushState(null, "", "/dashboard?" + query(state));
  load();
}

function addFilter(name, value) {
  const state = readState();
  go({ filters: Object.assign({}, state.filters, { [name]: value }) });
}

function removeExpr(expr) {
  go({ exprs: readState().exprs.filter((e) => e !== expr) });
}

function removeFilter(name) {
  const filters = Object.assign({}, readState().filters);
  delete filters[name];
  go({ filters });
}

// --- loading

let generation = 0;

async function load() {
  const state = readState();
  const mine = ++generation;
  syncControls(state);
  document.body.dataset.ready = "0";
  for (const card of document.querySelectorAll("[data-panel]")) card.dataset.state = "loading";
  let response;
  try {
    response = await fetch("/dashboard/api/report?" + query(state), { credentials: "same-origin", headers: { Accept: "application/json" } });
  } catch (err) {
    return notice("The collector did not answer. Retrying on the next change.", true);
  }
  if (mine !== generation) return;
  if (response.status === 401) { location.assign("/dashboard/login?next=" + encodeURIComponent(location.pathname + location.search)); return; }
  const body = await response.json();
  if (!response.ok) { notice(body.error || "The report failed.", true); markDone(); return; }
  render(body);
  markDone(body);
}

function markDone(body) {
  for (const card of document.querySelectorAll("[data-panel]")) card.dataset.state = "ready";
  document.body.dataset.ready = "1";
  window.dashboardReady = { at: performance.now(), ms: body ? body.ms : null };
}

function notice(text, error) {
  const box = $("#notice");
  box.hidden = !text;
  box.textContent = text || "";
  box.classList.toggle("error", !!error);
}

// --- controls

function syncControls(state) {
  $("#site").value = state.site;
  for (const b of document.querySelectorAll("#periods button")) b.setAttribute("aria-pressed", String(b.dataset.period === state.period));
  $("#custom").hidden = state.period !== "custom";
  if (state.period === "custom") { $("#from").value = state.from; $("#to").value = state.to; }
  $("#compare").checked = state.compare;
  const chips = $("#filters");
  chips.replaceChildren(...Object.entries(state.filters).map(([k, v]) =>
    el("button", { type: "button", class: "chip", title: "Remove this filter", "data-filter": k, on: { click: () => removeFilter(k) } },
      `${FILTER_LABELS[k]} is `, el("b", { text: v }), el("span", { "aria-hidden": "true", text: "×" }))),
    ...state.exprs.map((e) => {
      const m = /^(prop:[^=!~]+|[a-z_]+)\s*(==|!=|~)(.*)$/.exec(e) || [e, e, "", ""];
      const field = m[1].startsWith("prop:") ? `Property ${m[1].slice(5)}` : (FILTER_LABELS[m[1]] || m[1]);
      const verb = { "==": "is", "!=": "is not", "~": "contains" }[m[2]] || "";
      return el("button", { type: "button", class: "chip", title: "Remove this filter", "data-expr": e, on: { click: () => removeExpr(e) } },
        `${field} ${verb} `, el("b", { text: m[3].trim() }), el("span", { "aria-hidden": "true", text: "×" }));
    }));
  chips.hidden = chips.children.length === 0;
}

function bindControls() {
  $("#site").addEventListener("change", (e) => go({ site: e.target.value, filters: {}, exprs: [] }));
  for (const b of document.querySelectorAll("#periods button")) {
    b.addEventListener("click", () => {
      if (b.dataset.period === "custom") {
        const s = readState();
        $("#custom").hidden = false;
        for (const x of document.querySelectorAll("#periods button")) x.setAttribute("aria-pressed", String(x === b));
        if (!$("#from").value) $("#from").value = s.from || lastReport?.from || "";
        if (!$("#to").value) $("#to").value = s.to || lastReport?.to || "";
        return;
      }
      go({ period: b.dataset.period });
    });
  }
  $("#apply").addEventListener("click", () => go({ period: "custom", from: $("#from").value, to: $("#to").value }));
  $("#compare").addEventListener("change", (e) => go({ compare: e.target.checked }));
  window.addEventListener("popstate", load);
}

// --- rendering

let lastReport = null;

function render(report) {
  lastReport = report;
  notice(report.suppressed ? `Nothing to show: ${report.suppressed}.` : "");
  const p = report.panels;
  renderKpis(p.overview, p.previous_overview);
  renderChart(p.overview, p.previous_overview);
  list("pages", p.pages, { label: "path", value: "visitors", value2: "pageviews", heads: ["Page", "Visitors", "Views"], filter: "path" });
  list("entry_pages", p.entry_pages, { label: "path", value: "visits", value2: "visitors", heads: ["Entry page", "Visits", "Visitors"], filter: "entry_page" });
  list("referrers", p.referrers, { label: "referrer", value: "visits", value2: "visitors", heads: ["Referrer", "Visits", "Visitors"], filter: "referrer" });
  list("campaigns", p.campaigns, {
    label: (r) => [r.source, r.medium, r.campaign].filter(Boolean).join(" / ") || "(none)", key: "source",
    value: "visits", value2: "visitors", heads: ["Source / medium / campaign", "Visits", "Visitors"], filter: "utm_source",
  });
  renderDevices(p.devices);
  list("os", p.os, { label: (r) => [r.os, r.version].filter(Boolean).join(" "), key: "os", value: "visitors", value2: "pageviews", heads: ["Operating system", "Visitors", "Views"], filter: "os_name" });
  list("browsers", p.browsers, { label: (r) => [r.browser, r.version].filter(Boolean).join(" "), key: "browser", value: "visitors", value2: "pageviews", heads: ["Browser", "Visitors", "Views"], filter: "browser_name" });
  renderScreens(p.screen_classes, p.screen_sizes);
  list("languages", p.languages, { label: "language", value: "visitors", value2: "pageviews", heads: ["Language", "Visitors", "Views"], filter: "language" });
  list("timezones", p.timezones, { label: "timezone", value: "visitors", value2: "pageviews", heads: ["Time zone", "Visitors", "Views"], filter: "timezone" });
  renderEvents(p.events);
  list("engagement", p.engagement, { label: "path", value: "avg_scroll_depth", value2: "avg_engaged_seconds", heads: ["Page", "Scroll depth %", "Engaged s"], unfiltered: report });
  list("segments", p.segments, { label: "segment", value: "members", heads: ["Segment", "Members"], tag: "description", unfiltered: report });
  list("third_parties", p.third_parties, { label: "host", value: "reports", heads: ["Blocked host", "Reports"], tag: (r) => r.directive && `${r.directive} · ${r.page}`, unfiltered: report,
    note: "These are browser reports, not proof: any browser, or anyone, can send them. They show what browsers said they blocked." });
  list("drops", p.drops, { label: "reason", value: "events", heads: ["Reason", "Events"], unfiltered: report });
  renderGoals(p.goals, p.funnels);
  renderRetention(p.retention);
}

const pct = (v) => (v === null || v === undefined ? "–" : `${fmt.format(v * 100)}%`);

// Goals and funnels come from the site's configuration ([[sites.goals]], [[sites.funnels]]).
function renderGoals(goals, funnels) {
  const box = card("goals");
  box.hidden = !goals && !funnels;
  if (box.hidden) return;
  const rows = objects(goals) || [];
  if (rows.length) {
    const shaped = { columns: ["name", "goal", "converted", "rate"], rows: rows.map((r) => [r.name, r.goal, r.converted, pct(r.rate)]) };
    list("goals", shaped, { label: "name", value: "converted", value2: "rate", heads: ["Goal", "Converted", "Rate"], tag: "goal" }, box);
  }
  for (const f of funnels || []) {
    const steps = objects(f);
    const sub = el("div", { class: "funnel", "data-funnel": f.name }, el("h3", { text: f.name }));
    const shaped = { columns: ["label", "visitors", "share"], rows: steps.map((r) => [`${r.step}. ${r.goal}`, r.visitors, r.dropped === null ? pct(r.of_first) : `${pct(r.of_first)} (−${num(r.dropped)})`]) };
    list("goals", shaped, { label: "label", value: "visitors", value2: "share", heads: ["Step", "Visitors", "Of step 1 (drop-off)"] }, sub);
    box.append(sub);
  }
}

// Weekly cohorts of consented visitors: one row per cohort, one column per week since it was first seen.
function renderRetention(result) {
  const box = card("retention");
  const rows = objects(result);
  if (!rows) { box.append(el("p", { class: "empty", text: "Hidden: too few visitors match the filters." })); return; }
  const note = rows.find((r) => r.note);
  const cohorts = new Map();
  for (const r of rows.filter((x) => !x.note)) {
    if (!cohorts.has(r.cohort)) cohorts.set(r.cohort, { visitors: r.visitors, weeks: [] });
    cohorts.get(r.cohort).weeks[r.week] = r.share;
  }
  if (cohorts.size === 0) box.append(el("p", { class: "empty", text: "No consented visitors in this period." }));
  else {
    const width = Math.max(...[...cohorts.values()].map((c) => c.weeks.length));
    const head = el("tr", {}, el("th", { text: "First seen (week of)" }), el("th", { text: "Visitors" }),
      ...Array.from({ length: width }, (_, i) => el("th", { text: `Week ${i}` })));
    const body = [...cohorts.entries()].map(([cohort, c]) => el("tr", {}, el("th", { text: cohort }), el("td", { text: num(c.visitors) }),
      ...Array.from({ length: width }, (_, i) => el("td", { text: c.weeks[i] === undefined ? "" : pct(c.weeks[i]) }))));
    box.append(el("div", { class: "scroll" }, el("table", { class: "retention" }, el("thead", {}, head), el("tbody", {}, ...body))));
  }
  if (note) box.append(el("p", { class: "note caveat", text: `${note.note[0].toUpperCase()}${note.note.slice(1)}.` }));
}

function objects(result) {
  if (!result) return null;
  return result.rows.map((row) => Object.fromEntries(result.columns.map((c, i) => [c, row[i]])));
}

function sum(rows, key) { return rows.reduce((a, r) => a + (r[key] || 0), 0); }

function totals(result) {
  const rows = objects(result);
  if (!rows) return null;
  const visits = sum(rows, "visits");
  const weighted = rows.reduce((a, r) => a + (r.views_per_visit || 0) * (r.visits || 0), 0);
  return { visitors: sum(rows, "visitors"), pageviews: sum(rows, "pageviews"), visits, views_per_visit: visits ? weighted / visits : 0 };
}

function renderKpis(overview, previous) {
  const now = totals(overview);
  const before = totals(previous);
  for (const key of ["visitors", "pageviews", "visits", "views_per_visit"]) {
    const b = $(`[data-kpi="${key}"]`);
    const d = $(`[data-delta="${key}"]`);
    b.textContent = now ? (key === "views_per_visit" ? now[key].toFixed(2) : num(now[key])) : "–";
    d.className = "";
    d.textContent = "";
    if (now && before && before[key] > 0) {
      const change = (now[key] - before[key]) / before[key] * 100;
      d.textContent = `${change >= 0 ? "▲" : "▼"} ${Math.abs(change).toFixed(0)}% vs previous`;
      d.className = change >= 0 ? "up" : "down";
    }
  }
}

function renderChart(overview, previous) {
  const box = $("#chart");
  box.replaceChildren();
  const rows = objects(overview);
  if (!rows || rows.length === 0) { box.append(el("p", { class: "empty", text: "No data for this period." })); return; }
  const prev = objects(previous) || [];
  const W = Math.max(320, box.clientWidth || 800), H = box.clientWidth < 500 ? 180 : 240;
  const pad = { l: 40, r: 12, t: 12, b: 26 };
  const max = Math.max(1, ...rows.map((r) => Math.max(r.visitors, r.pageviews)), ...prev.map((r) => r.visitors));
  const nice = niceMax(max);
  const x = (i) => pad.l + (rows.length === 1 ? (W - pad.l - pad.r) / 2 : i * (W - pad.l - pad.r) / (rows.length - 1));
  const y = (v) => H - pad.b - v / nice * (H - pad.t - pad.b);
  const svg = el("svg:svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "Visitors and page views per day" });
  for (let i = 0; i <= 4; i++) {
    const v = nice * i / 4;
    svg.append(el("svg:line", { class: "grid-line", x1: pad.l, x2: W - pad.r, y1: y(v), y2: y(v) }));
    svg.append(el("svg:text", { class: "axis", x: pad.l - 6, y: y(v) + 4, "text-anchor": "end", text: compact.format(v) }));
  }
  const step = Math.max(1, Math.ceil(rows.length / (W < 500 ? 4 : 8)));
  rows.forEach((r, i) => {
    if (i % step === 0 || i === rows.length - 1) {
      const d = new Date(r.day + "T00:00:00Z");
      svg.append(el("svg:text", { class: "axis", x: x(i), y: H - 6, "text-anchor": "middle", text: d.toLocaleDateString(undefined, { month: "short", day: "numeric", timeZone: "UTC" }) }));
    }
  });
  const path = (vals) => vals.map((v, i) => `${i ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`).join("");
  const v = rows.map((r) => r.visitors);
  if (prev.length) svg.append(el("svg:path", { class: "line-prev", d: path(prev.slice(0, rows.length).map((r) => r.visitors)) }));
  svg.append(el("svg:path", { class: "area", d: `${path(v)}L${x(rows.length - 1)},${y(0)}L${x(0)},${y(0)}Z` }));
  svg.append(el("svg:path", { class: "line-p", d: path(rows.map((r) => r.pageviews)) }));
  svg.append(el("svg:path", { class: "line-v", d: path(v) }));
  const hover = el("svg:line", { class: "hover", y1: pad.t, y2: H - pad.b, visibility: "hidden" });
  const dot = el("svg:circle", { class: "pt", r: 4, visibility: "hidden" });
  svg.append(hover, dot);
  const tip = el("div", { class: "tip", hidden: true });
  box.append(svg, tip);
  svg.addEventListener("pointermove", (e) => {
    const rect = svg.getBoundingClientRect();
    const px = (e.clientX - rect.left) * W / rect.width;
    const i = Math.max(0, Math.min(rows.length - 1, Math.round((px - pad.l) / ((W - pad.l - pad.r) / Math.max(1, rows.length - 1)))));
    const r = rows[i];
    for (const [a, val] of [["x1", x(i)], ["x2", x(i)]]) hover.setAttribute(a, val);
    hover.setAttribute("visibility", "visible");
    dot.setAttribute("cx", x(i)); dot.setAttribute("cy", y(r.visitors)); dot.setAttribute("visibility", "visible");
    const p = prev[i] ? ` · before ${num(prev[i].visitors)}` : "";
    tip.textContent = `${r.day}: ${num(r.visitors)} visitors, ${num(r.pageviews)} views${p}`;
    tip.hidden = false;
    tip.style.left = `${x(i) * rect.width / W}px`;
  });
  svg.addEventListener("pointerleave", () => { hover.setAttribute("visibility", "hidden"); dot.setAttribute("visibility", "hidden"); tip.hidden = true; });
}

function niceMax(v) {
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function card(panel) {
  const c = $(`[data-panel="${panel}"]`);
  c.replaceChildren(c.querySelector("h2"));
  return c;
}

function list(panel, result, opt, target) {
  const box = target || card(panel);
  if (opt.unfiltered && Object.keys(opt.unfiltered.filters).length) box.append(el("p", { class: "note", text: "Not narrowed by the filters." }));
  if (opt.note) box.append(el("p", { class: "note caveat", text: opt.note }));
  const rows = objects(result);
  if (!rows) { box.append(el("p", { class: "empty", text: "Hidden: too few visitors match the filters." })); return box; }
  if (rows.length === 0) { box.append(el("p", { class: "empty", text: "Nothing in this period." })); return box; }
  const label = typeof opt.label === "function" ? opt.label : (r) => r[opt.label];
  const key = opt.key || (typeof opt.label === "string" ? opt.label : null);
  const max = Math.max(1, ...rows.map((r) => r[opt.value] || 0));
  box.append(el("div", { class: "rows-head" }, el("span", { text: opt.heads[0] }),
    el("span", { text: opt.heads.slice(1).join(" · ") })));
  const ul = el("ul", { class: "rows" });
  for (const r of rows.slice(0, opt.limit || 10)) {
    const name = label(r);
    const folded = name === "(other)";
    const canFilter = opt.filter && !folded && key && r[key] !== null && r[key] !== undefined;
    const bar = el("span", { class: "bar" });
    bar.style.setProperty("--w", `${(r[opt.value] || 0) / max * 100}%`);
    const tag = typeof opt.tag === "function" ? opt.tag(r) : (opt.tag ? r[opt.tag] : null);
    const content = [bar, el("span", { class: "label", title: name }, name ?? "(unknown)", tag ? el("span", { class: "tag", text: tag }) : null),
      el("span", { class: "num", text: num(r[opt.value]) })];
    if (opt.value2) content.push(el("span", { class: "num2", text: num(r[opt.value2]) }));
    const row = canFilter
      ? el("button", { type: "button", class: "row", title: `Show only ${name}`, "data-filter": opt.filter, "data-value": r[key], on: { click: () => addFilter(opt.filter, String(r[key])) } }, ...content)
      : el("div", { class: folded ? "row folded" : "row" }, ...content);
    ul.append(el("li", {}, row));
  }
  box.append(ul);
  if (rows.length > (opt.limit || 10)) box.append(el("p", { class: "note", text: `${rows.length - (opt.limit || 10)} more not shown` }));
  return box;
}

function group(rows, keyOf) {
  const out = new Map();
  for (const r of rows) {
    const k = keyOf(r);
    const g = out.get(k) || { name: k, visitors: 0, pageviews: 0, raw: r };
    g.visitors += r.visitors; g.pageviews += r.pageviews;
    out.set(k, g);
  }
  return [...out.values()].sort((a, b) => (a.name === "(other)") - (b.name === "(other)") || b.visitors - a.visitors);
}

let deviceTab = "model";

function renderDevices(result) {
  const box = card("devices");
  const rows = objects(result);
  const tabs = el("div", { class: "tabs", role: "group", "aria-label": "Group devices by" });
  for (const [tab, text] of [["model", "Model"], ["brand", "Brand"], ["type", "Type"]]) {
    tabs.append(el("button", { type: "button", "aria-pressed": String(tab === deviceTab), "data-tab": tab, text,
      on: { click: () => { deviceTab = tab; renderDevices(result); } } }));
  }
  box.append(tabs);
  if (!rows) return list("devices", null, {}, box);
  const asResult = (items, cols) => ({ columns: cols, rows: items.map((g) => cols.map((c) => g[c])) });
  if (deviceTab === "model") {
    const items = rows.map((r) => ({ name: r.type === "(other)" ? "(other)" : [r.brand, r.model].filter(Boolean).join(" ") || "(unknown)", model: r.model, type: r.type, visitors: r.visitors, pageviews: r.pageviews }));
    list("devices", asResult(items, ["name", "model", "type", "visitors", "pageviews"]), { label: "name", key: "model", value: "visitors", value2: "pageviews", heads: ["Device", "Visitors", "Views"], filter: "device_model", tag: (r) => r.name !== "(other)" && r.type }, box);
  } else if (deviceTab === "brand") {
    const items = group(rows, (r) => (r.type === "(other)" ? "(other)" : r.brand || "(unknown)")).map((g) => ({ brand: g.name === "(unknown)" ? null : g.name, name: g.name, visitors: g.visitors, pageviews: g.pageviews }));
    list("devices", asResult(items, ["name", "brand", "visitors", "pageviews"]), { label: "name", key: "brand", value: "visitors", value2: "pageviews", heads: ["Brand", "Visitors", "Views"], filter: "device_brand" }, box);
  } else {
    const items = group(rows, (r) => r.type || "(unknown)").map((g) => ({ type: g.name === "(unknown)" ? null : g.name, name: g.name, visitors: g.visitors, pageviews: g.pageviews }));
    list("devices", asResult(items, ["name", "type", "visitors", "pageviews"]), { label: "name", key: "type", value: "visitors", value2: "pageviews", heads: ["Type", "Visitors", "Views"], filter: "device_type" }, box);
  }
}

function renderScreens(classes, sizes) {
  const box = card("screens");
  const rows = objects(classes);
  if (rows && rows.length) {
    const order = ["phone", "tablet", "laptop", "desktop"];
    const max = Math.max(1, ...rows.map((r) => r.visitors));
    const grid = el("div", { class: "classes", role: "list", "aria-label": "Screen size classes" });
    for (const name of order) {
      const r = rows.find((x) => x.class === name);
      const h = r ? Math.max(2, r.visitors / max * 44) : 0;
      const svg = el("svg:svg", { viewBox: "0 0 100 48", preserveAspectRatio: "none", "aria-hidden": "true" },
        el("svg:rect", { class: "track", x: 0, y: 0, width: 100, height: 48, rx: 6 }),
        el("svg:rect", { class: "fill", x: 0, y: 48 - h, width: 100, height: h, rx: 6 }));
      const attrs = { type: "button", class: "class", role: "listitem", title: `Show only ${name} screens`, "data-filter": "screen_class", "data-value": name, on: { click: () => addFilter("screen_class", name) } };
      grid.append(el("button", attrs, svg, el("span", { text: name }), el("b", { text: r ? num(r.visitors) : "0" })));
    }
    box.append(grid);
  }
  list("screens", sizes, { label: "size", value: "visitors", value2: "pageviews", heads: ["Exact size", "Visitors", "Views"], filter: "screen_size", tag: "class" }, box);
}

function renderEvents(result) {
  const box = card("events");
  const rows = objects(result);
  if (!rows) return list("events", null, {}, box);
  const names = rows.filter((r) => r.prop === null);
  list("events", { columns: ["event", "events", "visitors"], rows: names.map((r) => [r.event, r.events, r.visitors]) },
    { label: "event", value: "events", value2: "visitors", heads: ["Event", "Events", "Visitors"], filter: "event" }, box);
  const props = rows.filter((r) => r.prop !== null && r.event !== "(other)");
  if (props.length) {
    const ul = el("ul", { class: "rows" });
    for (const r of props.slice(0, 8)) {
      ul.append(el("li", {}, el("div", { class: "row sub" }, el("span", { class: "label", text: `${r.event} · ${r.prop ?? ""} = ${r.value ?? "(other)"}` }), el("span", { class: "num", text: num(r.events) }))));
    }
    box.append(el("p", { class: "note", text: "Properties" }), ul);
  }
}

// --- live view

async function pollLive() {
  const box = $("#live");
  try {
    const r = await fetch("/dashboard/api/live?site=" + encodeURIComponent(readState().site), { credentials: "same-origin" });
    if (r.ok) {
      const body = await r.json();
      $("#live-count").textContent = num(body.visitors);
      box.title = `${body.visitors} visitors and ${body.pageviews} page views in the last 5 minutes`;
      box.classList.remove("stale");
    } else box.classList.add("stale");
  } catch (err) {
    box.classList.add("stale");
  }
}

function start() {
  bindControls();
  load();
  pollLive();
  setInterval(() => { if (!document.hidden) pollLive(); }, LIVE_SECONDS * 1000);
  let width = window.innerWidth;
  window.addEventListener("resize", () => {
    if (Math.abs(window.innerWidth - width) > 40 && lastReport) { width = window.innerWidth; renderChart(lastReport.panels.overview, lastReport.panels.previous_overview); }
  });
}

start();
