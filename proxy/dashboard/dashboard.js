// The dashboard: polls the admin API (the session cookie authorises it) and changes flags through
// PATCH /admin/routes/{name}, the same validated path as the CLI. No framework, no build step.
"use strict";

const POLL_MS = 2000;
const MODES = ["monolith", "shadow", "canary", "extracted"];
let previous = null; // {at, routes} of the last stats read, for rates
let mismatchIds = "";

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) node.append(child);
  return node;
}

function say(text, kind = "") {
  const status = document.getElementById("status");
  status.textContent = text;
  status.className = kind;
}

async function api(method, path, body) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (method !== "GET") {
    init.headers["X-Strangler-Dashboard"] = "1";
    init.headers["X-Actor"] = "dashboard";
  }
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  if (resp.status === 401) {
    window.location.assign("/dashboard");
    throw new Error("signed out");
  }
  const data = await resp.json();
  if (!resp.ok) throw new Error(data.detail || `${resp.status}`);
  return data;
}

function matchText(match) {
  const rule = match.path !== undefined ? `= ${match.path}` : `${match.path_prefix}*`;
  return `${(match.methods || []).join(",") || "any"} ${rule}`;
}

function rate(now, before, seconds, pick) {
  if (!before || seconds <= 0) return null;
  return (pick(now) - pick(before)) / seconds;
}

function total(counts) {
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

function routeRow(route) {
  const row = el("tr", { "data-route": route.name });
  for (const name of ["name", "match", "mode", "percent", "target", "breaker", "rps", "mrate", "ratio"]) {
    row.append(el("td", { class: `col-${name}` }));
  }
  const mode = el("select", { name: "mode", "aria-label": `mode of ${route.name}` });
  for (const m of MODES) mode.append(el("option", { value: m, textContent: m }));
  mode.value = route.mode;
  const percent = el("input", {
    type: "number", name: "percent", step: "any", value: route.percent,
    "aria-label": `percent of ${route.name}`,
  });
  const apply = el("button", { type: "submit", textContent: "Apply" });
  const form = el("form", { class: "change" }, mode, " ", percent, " ", apply);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const changes = { mode: mode.value, percent: Number(percent.value) };
    apply.disabled = true;
    try {
      const done = await api("PATCH", `/admin/routes/${encodeURIComponent(route.name)}`, changes);
      say(`${route.name}: mode ${done.route.mode}, ${done.route.percent}% (digest ${done.digest.slice(0, 12)})`, "ok");
      await refresh();
    } catch (err) {
      say(`${route.name}: refused: ${err.message}`, "error");
    } finally {
      apply.disabled = false;
    }
  });
  row.append(el("td", { class: "col-change" }, form));
  return row;
}

function renderRoutes(table, stats) {
  const body = document.querySelector("#routes tbody");
  const now = { at: performance.now(), routes: stats.routes };
  const seconds = previous ? (now.at - previous.at) / 1000 : 0;
  const names = table.routes.map((r) => r.name);
  for (const row of [...body.rows]) {
    if (!names.includes(row.dataset.route)) row.remove();
  }
  for (const route of table.routes) {
    let row = body.querySelector(`tr[data-route="${CSS.escape(route.name)}"]`);
    if (!row) {
      row = routeRow(route);
      body.append(row);
    }
    const cell = (name) => row.querySelector(`.col-${name}`);
    const upstream = route.target || "monolith";
    const breaker = (stats.upstreams[upstream] || {}).breaker || "closed";
    const s = stats.routes[route.name];
    const before = previous && previous.routes[route.name];
    const rps = rate(s, before, seconds, (x) => total(x.requests));
    const compared = rate(s, before, seconds, (x) => x.shadow.compared);
    const mismatched = rate(s, before, seconds, (x) => x.shadow.mismatched);
    cell("name").textContent = route.name;
    cell("match").textContent = matchText(route.match);
    cell("mode").textContent = route.mode;
    cell("mode").className = `col-mode mode-${route.mode}`;
    cell("percent").textContent = route.mode === "canary" ? `${route.percent}%` : "-";
    cell("target").textContent = route.target || "-";
    cell("breaker").textContent = `${upstream}: ${breaker}`;
    cell("breaker").className = `col-breaker breaker-${breaker}`;
    cell("rps").textContent = rps === null ? "…" : rps.toFixed(1);
    cell("mrate").textContent = compared ? `${((100 * mismatched) / compared).toFixed(1)}%` : "-";
    const ratio = s.recent_mismatch_ratio;
    cell("ratio").textContent = ratio === null ? "-" : `${(100 * ratio).toFixed(1)}%`;
    const form = row.querySelector("form.change");
    if (!form.contains(document.activeElement)) {
      form.elements.mode.value = route.mode;
      form.elements.percent.value = route.percent;
    }
  }
  previous = now;
  document.getElementById("digest").textContent = `routes ${table.digest.slice(0, 12)}`;
  document.getElementById("queue").textContent = `shadow queue ${stats.shadow_queue_depth}`;
}

function renderMismatches(page) {
  const ids = page.results.map((m) => m.id).join(",");
  if (ids === mismatchIds) return;
  mismatchIds = ids;
  const body = document.querySelector("#mismatches tbody");
  body.replaceChildren();
  for (const m of page.results) {
    const query = m.query ? `?${m.query}` : "";
    const lag = m.sync_lag_s === null ? "unknown" : `${m.sync_lag_s.toFixed(1)}s`;
    const wheres = m.differences.slice(0, 3).map((d) => d.where).join(", ");
    const more = m.differences.length > 3 ? ` +${m.differences.length - 3}` : "";
    const row = el(
      "tr", { "data-id": String(m.id) },
      el("td", { textContent: String(m.id) }),
      el("td", { textContent: m.at }),
      el("td", { textContent: m.route }),
      el("td", { textContent: `${m.method} ${m.path}${query}` }),
      el("td", { textContent: `${m.expected.status} vs ${m.actual.status}` }),
      el("td", { textContent: lag }),
      el("td", { textContent: wheres + more }),
    );
    row.addEventListener("click", () => showMismatch(m, row));
    body.append(row);
  }
}

function pretty(text) {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

// Lines of each side that are not in their longest common subsequence: what to highlight.
function changedLines(left, right) {
  const n = left.length, m = right.length;
  if (n * m > 4_000_000) return [new Set(), new Set()];
  const lcs = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--)
    for (let j = m - 1; j >= 0; j--)
      lcs[i][j] = left[i] === right[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
  const leftChanged = new Set(), rightChanged = new Set();
  let i = 0, j = 0;
  while (i < n && j < m) {
    if (left[i] === right[j]) { i++; j++; }
    else if (lcs[i + 1][j] >= lcs[i][j + 1]) leftChanged.add(i++);
    else rightChanged.add(j++);
  }
  while (i < n) leftChanged.add(i++);
  while (j < m) rightChanged.add(j++);
  return [leftChanged, rightChanged];
}

function fill(pre, lines, changed) {
  pre.replaceChildren(
    ...lines.map((line, index) =>
      el("span", { class: changed.has(index) ? "changed" : "", textContent: `${line}\n` }),
    ),
  );
}

function showMismatch(m, row) {
  for (const other of document.querySelectorAll("#mismatches tr.selected")) other.classList.remove("selected");
  row.classList.add("selected");
  document.getElementById("mismatch-detail").hidden = false;
  document.getElementById("detail-title").textContent =
    `#${m.id} ${m.method} ${m.path}${m.query ? "?" + m.query : ""} on ${m.route} (target ${m.target || "?"})`;
  const diffs = document.querySelector("#detail-differences tbody");
  diffs.replaceChildren(
    ...m.differences.map((d) =>
      el("tr", {},
        el("td", { textContent: d.where }), el("td", { textContent: d.kind }),
        el("td", { textContent: JSON.stringify(d.expected) }),
        el("td", { textContent: JSON.stringify(d.actual) })),
    ),
  );
  const left = pretty(m.expected.body).split("\n");
  const right = pretty(m.actual.body).split("\n");
  const [leftChanged, rightChanged] = changedLines(left, right);
  fill(document.getElementById("detail-expected"), left, leftChanged);
  fill(document.getElementById("detail-actual"), right, rightChanged);
}

async function refresh() {
  try {
    const [table, stats, mismatches] = await Promise.all([
      api("GET", "/admin/routes"),
      api("GET", "/admin/stats"),
      api("GET", "/admin/mismatches?limit=20"),
    ]);
    renderRoutes(table, stats);
    renderMismatches(mismatches);
  } catch (err) {
    if (err.message !== "signed out") say(`cannot read the admin API: ${err.message}`, "error");
  }
}

refresh();
setInterval(refresh, POLL_MS);
