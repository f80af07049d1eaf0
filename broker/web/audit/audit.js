// The privacy officers' audit page. No external resources; signing in is the shared module
// (/web/signin.js), which keeps the token in sessionStorage and sends it only to this broker.
"use strict";
const $ = (id) => document.getElementById(id);

function setStatus(text, bad) {
  $("status").textContent = text;
  $("status").className = bad ? "bad" : "";
}

const api = (path) => KpSignIn.api(path);

function cell(tr, text) {
  const td = document.createElement("td");
  td.textContent = text == null ? "" : String(text);
  tr.appendChild(td);
}

// Times for people: Amsterdam's local time, with the zone (CET or CEST) named.
const local = (ms) => new Date(ms).toLocaleString("nl-NL", {
  timeZone: "Europe/Amsterdam", year: "numeric", month: "2-digit", day: "2-digit",
  hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short",
});

// The registry's names the broker sent with the entries: "Gemeente Hilversum (gemeente-hilversum)".
const names = { organisations: {}, purposes: {} };
const org = (id) => (names.organisations[id] ? names.organisations[id] + " (" + id + ")" : id);
const purpose = (id) => (names.purposes[id] ? names.purposes[id] + " (" + id + ")" : id);

// What a match disclosed, from the entry's detail.
function disclosed(e) {
  const d = e.detail || {};
  const parts = [];
  if (d.identifiers != null) parts.push(d.identifiers + " identifier" + (d.identifiers === 1 ? "" : "s") +
    (d.hits != null ? ", " + d.hits + " hit" + (d.hits === 1 ? "" : "s") : ""));
  if (d.requested_level) parts.push("asked: " + d.requested_level);
  if (d.disclosed_level) parts.push("given: " + d.disclosed_level);
  if (d.consent_id) parts.push("consent " + d.consent_id);
  if (d.justification) parts.push("why: " + d.justification);
  return parts.join("; ");
}

function addRows(lines) {
  const body = $("rows");
  for (const l of lines) {
    const tr = document.createElement("tr");
    const e = l.entry;
    const s = l.summary;
    cell(tr, l.index);
    cell(tr, e ? local(e.time_ms) : s ? local(s.time_ms) : "");
    cell(tr, e ? e.operation : s ? s.operation : "");
    cell(tr, e ? e.action : "");
    cell(tr, e ? (e.actor_org ? org(e.actor_org) : "") + (e.actor_user ? " / " + e.actor_user : "") : "");
    cell(tr, e ? [e.purpose && purpose(e.purpose), e.legal_basis, e.case_reference].filter(Boolean).join(" / ") : "");
    cell(tr, e ? e.source_orgs.map(org).join(", ") : "");
    cell(tr, e ? e.recipients.map(org).join(", ") : "");
    cell(tr, e ? disclosed(e) : "");
    cell(tr, e ? (e.decision || "") + (e.reasons.length ? " (" + e.reasons.join(", ") + ")" : "") : "");
    cell(tr, l.withheld === "embargo"
      ? "details under embargo until " + local(l.embargo_until * 1000)
      : l.withheld || "");
    body.appendChild(tr);
  }
}

function learnNames(v) {
  if (!v.names) return;
  Object.assign(names.organisations, v.names.organisations || {});
  Object.assign(names.purposes, v.names.purposes || {});
}

// --- the overview: charts drawn from the entries the review returned ------------------------

const SVG = "http://www.w3.org/2000/svg";
function svgEl(name, attrs, text) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text != null) e.textContent = text;
  return e;
}

// ISO week of a local (Amsterdam) day: "2026-W49".
function isoWeek(ms) {
  const parts = new Intl.DateTimeFormat("en-CA", { timeZone: "Europe/Amsterdam" }).format(new Date(ms));
  const d = new Date(parts + "T00:00:00Z");
  const day = (d.getUTCDay() + 6) % 7;
  d.setUTCDate(d.getUTCDate() - day + 3);
  const year = d.getUTCFullYear();
  const jan4 = new Date(Date.UTC(year, 0, 4));
  const week = 1 + Math.round(((d - jan4) / 86400000 - 3 + ((jan4.getUTCDay() + 6) % 7)) / 7);
  return year + "-W" + String(week).padStart(2, "0");
}
// Monday 00:00 of an ISO week, as the review's `from` (a date input value).
function weekStart(label) {
  const [y, w] = label.split("-W").map(Number);
  const jan4 = new Date(Date.UTC(y, 0, 4));
  const monday = new Date(jan4.getTime() - ((jan4.getUTCDay() + 6) % 7) * 86400000 + (w - 1) * 7 * 86400000);
  return monday.toISOString().slice(0, 10);
}

// A horizontal bar chart: rows of [label, count, onclick]; each bar links to its entries.
function barChart(id, title, rows, empty) {
  const box = $(id);
  box.textContent = "";
  const h = document.createElement("h3");
  h.textContent = title;
  box.appendChild(h);
  if (!rows.length) {
    const p = document.createElement("p");
    p.textContent = empty;
    box.appendChild(p);
    return;
  }
  const max = Math.max(...rows.map((r) => r[1]));
  const width = 620, bar = 18, labelW = 300;
  const svg = svgEl("svg", { width, height: rows.length * (bar + 6) + 4, role: "img", "aria-label": title });
  rows.forEach(([label, n, go], i) => {
    const y = 2 + i * (bar + 6);
    const g = svgEl("g", { class: "bar", tabindex: "0" });
    g.appendChild(svgEl("title", {}, label + ": " + n + " — click to show these entries"));
    g.appendChild(svgEl("text", { x: 0, y: y + 13, "font-size": 12 }, label.length > 42 ? label.slice(0, 41) + "…" : label));
    const w = Math.max(2, Math.round(((width - labelW - 40) * n) / max));
    g.appendChild(svgEl("rect", { x: labelW, y, width: w, height: bar, fill: "#2f6f9f" }));
    g.appendChild(svgEl("text", { x: labelW + w + 4, y: y + 13, "font-size": 12 }, String(n)));
    g.addEventListener("click", go);
    g.addEventListener("keydown", (ev) => { if (ev.key === "Enter") go(); });
    svg.appendChild(g);
  });
  box.appendChild(svg);
}

// Sets the review's filters and shows the entries behind a bar.
function showFiltered(filters) {
  for (const f of ["from", "to", "purpose", "case", "partner", "operation"]) $(f).value = filters[f] || "";
  search();
}

const countBy = (items, key) => {
  const m = new Map();
  for (const it of items) for (const k of [].concat(key(it))) if (k) m.set(k, (m.get(k) || 0) + 1);
  return [...m.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
};

function overview(lines) {
  const full = lines.filter((l) => l.entry).map((l) => l.entry);
  const disclosures = full.filter((e) => e.operation === "disclose" || e.operation === "combine");
  const keep = { ...Object.fromEntries(["from", "to", "purpose", "case", "partner", "operation"].map((f) => [f, $(f).value])) };
  barChart("chart-purpose-week", "Disclosures per purpose per week",
    countBy(disclosures, (e) => (e.purpose ? isoWeek(e.time_ms) + " · " + e.purpose : null))
      .sort((a, b) => (a[0] < b[0] ? -1 : 1))
      .map(([k, n]) => {
        const [week, p] = k.split(" · ");
        const from = weekStart(week);
        const to = new Date(Date.parse(from) + 6 * 86400000).toISOString().slice(0, 10);
        return [week + " · " + purpose(p), n, () => showFiltered({ ...keep, purpose: p, from, to, operation: "disclose,combine" })];
      }),
    "No disclosures among these entries.");
  barChart("chart-refusals", "Refusals by reason",
    countBy(full.filter((e) => e.operation === "refuse"), (e) => (e.reasons.length ? e.reasons : ["(no reason given)"]))
      .map(([r, n]) => [r, n, () => showFiltered({ ...keep, operation: "refuse" })]),
    "No refusals among these entries.");
  barChart("chart-requesters", "Requesters with the most disclosures",
    countBy(disclosures, (e) => e.actor_org).slice(0, 10)
      .map(([o, n]) => [org(o), n, () => showFiltered({ ...keep, partner: o, operation: "disclose,combine" })]),
    "No disclosures among these entries.");
  const embargoed = lines.filter((l) => l.withheld === "embargo" || (l.entry && l.entry.detail && l.entry.detail.embargo_until));
  barChart("chart-embargo", "Disclosures under embargo",
    countBy(embargoed, (l) => (l.entry ? (l.entry.case_reference || l.entry.purpose || "(no case)") : "withheld from you until " + local(l.embargo_until * 1000).slice(0, 10)))
      .map(([c, n]) => [c, n, () => showFiltered({ ...keep, case: embargoed.some((l) => l.entry && l.entry.case_reference === c) ? c : "", operation: "disclose,combine" })]),
    "No disclosures under embargo among these entries.");
  barChart("chart-cases", "Police queries per case",
    countBy(full.filter((e) => e.action === "match" && e.case_reference && /wpg/.test(e.legal_basis || "")), (e) => e.case_reference)
      .map(([c, n]) => [c, n, () => showFiltered({ ...keep, case: c, operation: "" })]),
    "No police queries under a case among these entries.");
}

function show(v) {
  $("rows").textContent = "";
  learnNames(v);
  addRows(v.entries);
  setStatus(v.entries.length + " " + (v.entries.length === 1 ? "entry" : "entries"));
}

function reviewQuery() {
  const p = new URLSearchParams();
  const day = (v) => Date.parse(v + "T00:00:00Z");
  if ($("from").value) p.set("from", day($("from").value));
  if ($("to").value) p.set("to", day($("to").value) + 86400000);
  for (const f of ["purpose", "case", "partner", "operation"]) {
    if ($(f).value.trim()) p.set(f, $(f).value.trim());
  }
  // Page size: 1 000 entries, or `?limit=N` in the page's own address (to look at the paging).
  const size = Number(new URLSearchParams(location.search).get("limit"));
  p.set("limit", size >= 1 && size <= 1000 ? String(size) : "1000");
  return p;
}

// The whole answer: the review comes in pages (at most 1 000 entries, or 100 000 looked at);
// follow `next` until there is none, showing the rows as they come and the count at the end.
async function search() {
  try {
    $("rows").textContent = "";
    setStatus("Reading the entries…");
    let after = null, before = null, count = 0, pages = 0;
    const all = [];
    for (;;) {
      const p = reviewQuery();
      if (after !== null) { p.set("after", after); p.set("before", before); }
      const v = await (await api("/v1/audit/review?" + p)).json();
      if (before === null) before = v.tree_size;
      learnNames(v);
      addRows(v.entries);
      all.push(...v.entries);
      count += v.entries.length;
      pages += 1;
      after = v.next;
      if (after === null || after === undefined) break;
      setStatus(count + " entries so far, reading on…");
    }
    overview(all);
    setStatus(count + " " + (count === 1 ? "entry matches" : "entries match") + " (all of them, read in " +
      pages + " page" + (pages === 1 ? "" : "s") + ")");
  } catch (e) { setStatus("Review failed: " + e.message, true); }
}

// The CSV of the whole answer: every page (the broker names the next in the Kruispunt-Next
// header), with the header row once.
async function exportCsv() {
  try {
    let after = null, before = null, text = "", rows = 0;
    for (;;) {
      const p = reviewQuery();
      p.set("format", "csv");
      if (after !== null) { p.set("after", after); p.set("before", before); }
      const r = await api("/v1/audit/review?" + p);
      if (before === null) before = r.headers.get("kruispunt-tree-size");
      const page = await r.text();
      const body = text ? page.slice(page.indexOf("\r\n") + 2) : page;
      text += body;
      rows += body.split("\r\n").filter(Boolean).length - (text === body ? 1 : 0);
      after = r.headers.get("kruispunt-next");
      if (!after) break;
      setStatus(rows + " rows so far, reading on…");
    }
    const a = document.createElement("a");
    a.href = URL.createObjectURL(new Blob([text], { type: "text/csv" }));
    a.download = "kruispunt-audit-review.csv";
    a.click();
    setStatus("CSV exported: " + rows + " " + (rows === 1 ? "entry" : "entries"));
  } catch (e) { setStatus("Export failed: " + e.message, true); }
}

async function lookupHistory() {
  try {
    const p = new URLSearchParams({ pseudonym: $("pseudonym").value.trim() });
    const v = await (await api("/v1/audit/disclosures?" + p)).json();
    show(v);
  } catch (e) { setStatus("Look-up failed: " + e.message, true); }
}

// --- the history of one case: GET /v1/audit/cases/{reference} ---------------------------------

// One line of a case's history, in words, from an entry the officer may see in full.
function caseEvent(e) {
  const d = e.detail || {};
  const by = e.actor_org ? org(e.actor_org) : "the broker";
  const why = e.reasons && e.reasons.length ? " (" + e.reasons.join(", ") + ")" : "";
  switch (e.action) {
    case "case.open":
      return "Case registered by " + by + ": gemeente " + d.gemeente + ", themes " + (d.themes || []).join(", ") +
        ", legal frame " + (d.legal_frame || []).join(", ") + "; participants " + e.recipients.map(org).join(", ");
    case "case.state":
      return "Case moved by " + by + " from " + d.from + " to " + d.to +
        (d.intervention ? " (intervention: " + d.intervention + ")" : "") + (d.result ? " (result: " + d.result + ")" : "") +
        (d.channels && d.channels.length ? "; its channels end: " + d.channels.join(", ") : "");
    case "case.refused":
      return "A case operation by " + by + " refused" + why;
    case "consent.issue":
      return "Consent " + d.consent_id + " issued by " + by + " for " + purpose(e.purpose) + ": kinds " +
        (d.kinds || []).join(", ") + ", at most " + d.max_identifiers + " identifiers, up to " + d.ceiling +
        ", valid until " + local(d.valid_until * 1000);
    case "consent.withdraw":
      return "Consent " + d.consent_id + " withdrawn by " + by;
    case "consent.refused":
      return "A consent operation by " + by + " refused" + why;
    case "match":
      return "Police query by " + by + " (" + e.operation + "): " + disclosed(e) +
        (e.source_orgs.length ? "; suppliers " + e.source_orgs.map(org).join(", ") : "") +
        "; " + (e.decision || "") + why;
    case "mls.group.create":
      return "Channel " + d.group + " registered by " + by + "; may hold " + (d.allowed || []).map(org).join(", ");
    case "mls.deliver":
      return "Channel " + d.group + ": " + (d.content_type || "message") + " from " + by + " delivered to " +
        e.recipients.map(org).join(", ") + (d.added && d.added.length ? "; added members " + d.added.map(org).join(", ") : "");
    case "mls.message.refused":
      return "Channel " + d.group + ": a post by " + by + " refused" + why;
    default:
      return e.action + " by " + by + (d.group ? " (channel " + d.group + ")" : "") + why;
  }
}

// The case's history: every page of the endpoint, then the timeline (with each consent's
// expiry, a moment of the clock that has no entry) and the rows.
async function caseHistory() {
  const ref = $("case-ref").value.trim();
  $("rows").textContent = "";
  $("case-timeline").textContent = "";
  $("case-view").hidden = true;
  try {
    setStatus("Reading the case's history…");
    let after = null, before = null, kase = null;
    const all = [];
    for (;;) {
      const p = new URLSearchParams({ limit: "1000" });
      if (after !== null) { p.set("after", after); p.set("before", before); }
      const v = await (await api("/v1/audit/cases/" + encodeURIComponent(ref) + "?" + p)).json();
      if (before === null) before = v.tree_size;
      kase = v.case;
      learnNames(v);
      all.push(...v.entries);
      after = v.next;
      if (after === null || after === undefined) break;
    }
    const events = all.filter((l) => l.entry).map((l) => ({ t: l.entry.time_ms, i: l.index, text: caseEvent(l.entry) }));
    const withdrawn = new Set(all.filter((l) => l.entry && l.entry.action === "consent.withdraw").map((l) => l.entry.detail.consent_id));
    for (const l of all) {
      const e = l.entry;
      if (!e || e.action !== "consent.issue") continue;
      const end = e.detail.valid_until * 1000;
      if (end <= KpAuditClock.now() && !withdrawn.has(e.detail.consent_id)) {
        events.push({ t: end, i: Infinity, text: "Consent " + e.detail.consent_id + " expired" });
      }
    }
    events.sort((a, b) => a.t - b.t || a.i - b.i);
    for (const ev of events) {
      const li = document.createElement("li");
      li.textContent = local(ev.t) + " — " + ev.text;
      $("case-timeline").appendChild(li);
    }
    $("case-title").textContent = "Case " + kase.reference + ": " + kase.state;
    $("case-facts").textContent = "Gemeente " + kase.gemeente + "; themes " + kase.themes.join(", ") +
      "; legal frame " + kase.legal_frame.join(", ") + "; opened by " + org(kase.opened_by) + " on " +
      local(kase.opened_at * 1000) + "; participants " + kase.participants.map(org).join(", ") +
      (kase.intervention ? "; intervention " + kase.intervention : "") + (kase.result ? "; result " + kase.result : "");
    $("case-view").hidden = false;
    addRows(all);
    setStatus(all.length + " " + (all.length === 1 ? "entry" : "entries") + " in the history of case " + kase.reference);
  } catch (e) { setStatus("Case history failed: " + e.message, true); }
}

// --- verification: signed note (Ed25519) and RFC 9162 consistency proof -----------------------

const b64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
const enc = new TextEncoder();

async function sha256(...parts) {
  let n = 0;
  for (const p of parts) n += p.length;
  const buf = new Uint8Array(n);
  let o = 0;
  for (const p of parts) { buf.set(p, o); o += p.length; }
  return new Uint8Array(await crypto.subtle.digest("SHA-256", buf));
}
const node = (l, r) => sha256(new Uint8Array([1]), l, r);
const eq = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

async function verifyConsistency(size1, size2, proof, root1, root2) {
  if (size1 === size2) return proof.length === 0 && eq(root1, root2);
  if (size1 === 0) return true;
  const path = (size1 & (size1 - 1)) === 0 ? [root1, ...proof] : proof;
  if (path.length === 0) return false;
  let fn = size1 - 1, sn = size2 - 1;
  while (fn & 1) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
  let fr = path[0], sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if ((fn & 1) || fn === sn) {
      fr = await node(c, fr); sr = await node(c, sr);
      if (!(fn & 1)) { while (!(fn & 1) && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); } }
    } else {
      sr = await node(sr, c);
    }
    fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
  }
  return sn === 0 && eq(fr, root1) && eq(sr, root2);
}

// --- witnesses: the officer's quorum policy and the cosignatures (C2SP tlog-cosignature) -----
//
// The policy comes from the officer (pasted once, kept in localStorage), never from the broker
// whose checkpoint it judges. Parsed as sdk/src/transparency/witness_policy.rs parses it, and
// checked as `WitnessPolicy::verify` checks (docs/AUDIT.md, "Witnesses and cosigned
// checkpoints").

const POLICY_KEY = "kp-audit-witness-policy";
// A cosignature dated more than this far ahead of this computer's clock is not counted (the
// SDK's DEFAULT_MAX_CLOCK_SKEW_SECS).
const MAX_CLOCK_SKEW_SECS = 300;
// The clock, in milliseconds; a test may set `KpAuditClock.now` to look at the boundary.
const KpAuditClock = { now: () => Date.now() };
window.KpAuditClock = KpAuditClock;

const hex8 = (n) => n.toString(16).padStart(8, "0");
const be32 = (b) => ((b[0] << 24) >>> 0) + (b[1] << 16) + (b[2] << 8) + b[3];

// A note verifier key `<name>+<8 hex key id>+<base64(type ‖ 32-byte key)>` of type `type`
// (0x01 a log, 0x04 a witness), its key id checked: {name, id, key}.
async function parseNoteKey(s, type) {
  const first = s.indexOf("+");
  const name = first < 0 ? "" : s.slice(0, first);
  const idHex = s.slice(first + 1, first + 9);
  const keyB64 = s.slice(first + 10);
  if (!name || /[\s+\u0000-\u001f]/.test(name) || s[first + 9] !== "+") throw new Error("expected <name>+<key id>+<key>");
  if (!/^[0-9a-f]{8}$/.test(idHex)) throw new Error("key id is not 8 lowercase hex digits");
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(keyB64) || keyB64.length % 4) throw new Error("key is not standard base64");
  const raw = b64(keyB64);
  if (raw[0] !== type) throw new Error("unsupported key type 0x" + (raw[0] || 0).toString(16).padStart(2, "0") +
    (type === 4 ? " (a witness key has type 0x04)" : " (a log key has type 0x01)"));
  if (raw.length !== 33) throw new Error("an Ed25519 key is 32 bytes, not " + (raw.length - 1));
  const key = raw.slice(1);
  const id = be32(await sha256(enc.encode(name), new Uint8Array([10, type]), key));
  if (hex8(id) !== idHex) throw new Error("key id " + idHex + " does not match the key (" + hex8(id) + ")");
  return { name, id, key };
}

// The policy text, parsed: {logs, witnesses: [{label, name, id, key, url}], nodes, quorum}.
async function parsePolicy(text) {
  const p = { logs: [], witnesses: [], nodes: [], quorum: undefined };
  const lookup = (n) => p.nodes.findIndex((x) => x.name === n);
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const fail = (reason) => { throw new Error("policy line " + (i + 1) + ": " + reason); };
    const line = lines[i].split("#")[0].trim();
    if (!line) continue;
    const w = line.split(/\s+/);
    const newName = (n) => {
      if (["none", "all", "any"].includes(n) || /^\d+$/.test(n)) fail(JSON.stringify(n) + " is a reserved word, not a name");
      if (lookup(n) >= 0) fail(n + " is defined twice");
    };
    const key = async (s, type) => { try { return await parseNoteKey(s, type); } catch (e) { return fail(e.message); } };
    if (w[0] === "log") {
      if (w.length < 2 || w.length > 3) fail("expected: log VKEY [URL]");
      p.logs.push(await key(w[1], 1));
    } else if (w[0] === "witness") {
      if (w.length < 3 || w.length > 4) fail("expected: witness NAME VKEY [URL]");
      newName(w[1]);
      const k = await key(w[2], 4);
      if (p.witnesses.some((x) => x.name === k.name && x.id === k.id)) fail("witness " + w[1] + ": the same key is listed twice");
      p.witnesses.push({ label: w[1], ...k, url: w[3] || null });
      p.nodes.push({ name: w[1], witness: p.witnesses.length - 1 });
    } else if (w[0] === "group") {
      if (w.length < 4) fail("expected: group NAME all|any|K MEMBER...");
      newName(w[1]);
      const members = [];
      for (const m of w.slice(3)) {
        const at = lookup(m);
        if (at < 0) fail("group " + w[1] + ": unknown member " + JSON.stringify(m) + " (define witnesses and groups before the groups that name them)");
        if (members.includes(at)) fail("group " + w[1] + ": member " + m + " is listed twice");
        members.push(at);
      }
      const k = w[2] === "all" ? members.length : w[2] === "any" ? 1 : Number(w[2]);
      if (!(w[2] === "all" || w[2] === "any" || (/^[1-9]\d*$/.test(w[2]) && k <= members.length))) {
        fail("group " + w[1] + ": threshold " + JSON.stringify(w[2]) + " must be all, any or a number from 1 to " + members.length);
      }
      p.nodes.push({ name: w[1], threshold: k, members });
    } else if (w[0] === "quorum") {
      if (w.length !== 2) fail("expected: quorum NAME|none");
      if (p.quorum !== undefined) fail("a policy has exactly one quorum line");
      if (w[1] === "none") p.quorum = null;
      else if ((p.quorum = lookup(w[1])) < 0) fail("quorum: unknown witness or group " + JSON.stringify(w[1]));
    } else {
      fail("unknown statement " + JSON.stringify(w[0]) + " (log, witness, group or quorum)");
    }
  }
  if (p.quorum === undefined) {
    const last = lines.length - (lines[lines.length - 1] === "" ? 1 : 0);
    throw new Error("policy line " + last + ": no quorum line (write `quorum NAME` or `quorum none`)");
  }
  return p;
}

// Whether the witnesses labelled in `cosigned` satisfy the quorum (members come before their
// groups, so one pass in order suffices).
function satisfied(p, cosigned) {
  if (p.quorum === null) return true;
  const met = [];
  p.nodes.forEach((n, i) => {
    met[i] = n.witness !== undefined ? cosigned.includes(n.name)
      : n.members.filter((m) => met[m]).length >= n.threshold;
  });
  return met[p.quorum];
}

// The quorum in words: "fg: 2 of riec, ap, gem".
function describeQuorum(p) {
  if (p.quorum === null) return "none (no cosignature needed)";
  const say = (i) => {
    const n = p.nodes[i];
    if (n.witness !== undefined) return n.name;
    const inner = n.members.map((m) => (p.nodes[m].witness !== undefined ? p.nodes[m].name : "(" + say(m) + ")")).join(", ");
    return (n.threshold === n.members.length && n.members.length > 1 ? "all" : n.threshold) + " of " + inner;
  };
  const q = p.nodes[p.quorum];
  return q.witness !== undefined ? q.name : q.name + ": " + say(p.quorum);
}

function describePolicy(p) {
  return p.witnesses.length + " witness" + (p.witnesses.length === 1 ? "" : "es") + " (" +
    p.witnesses.map((w) => w.label + " = " + w.name + "+" + hex8(w.id)).join(", ") + "); quorum " + describeQuorum(p) +
    (p.logs.length ? "; log key" + (p.logs.length === 1 ? " " : "s ") + p.logs.map((l) => l.name + "+" + hex8(l.id)).join(", ") : "");
}

// The kept policy, parsed, or null when there is none.
async function keptPolicy() {
  const text = localStorage.getItem(POLICY_KEY);
  return text ? parsePolicy(text) : null;
}

async function showPolicy() {
  try {
    const p = await keptPolicy();
    $("witness-summary").textContent = p ? "your policy, kept in this browser: " + describePolicy(p)
      : "no witness policy in this browser: cosignatures are not checked";
    $("witness-summary").className = "";
    if (p && !$("witness-policy").value) $("witness-policy").value = localStorage.getItem(POLICY_KEY);
  } catch (e) {
    $("witness-summary").textContent = "the kept witness policy cannot be used: " + e.message;
    $("witness-summary").className = "bad";
  }
}

async function keepPolicy() {
  const text = $("witness-policy").value;
  try {
    await parsePolicy(text);
  } catch (e) {
    $("witness-policy-result").textContent = "Not kept: " + e.message;
    $("witness-policy-result").className = "bad";
    return;
  }
  localStorage.setItem(POLICY_KEY, text);
  await showPolicy();
  if (KpSignIn.current()) verify(); // numbered now, before "Kept." shows
  $("witness-policy-result").textContent = "Kept.";
  $("witness-policy-result").className = "ok";
}

async function forgetPolicy() {
  localStorage.removeItem(POLICY_KEY);
  $("witness-policy").value = "";
  await showPolicy();
  if (KpSignIn.current()) verify();
  $("witness-policy-result").textContent = "Forgotten.";
  $("witness-policy-result").className = "";
}

// Checks the cosignature lines of `sigText` (the note's signature lines) over the checkpoint
// `body` against the policy; answers the result in words, or throws the refusal.
async function checkCosignatures(p, body, sigText) {
  const now = Math.floor(KpAuditClock.now() / 1000);
  const cosigned = [], ahead = [];
  for (const line of sigText.split("\n")) {
    if (!line.startsWith("\u2014 ")) continue;
    const [name, sigB64] = line.slice(2).split(" ");
    const raw = b64(sigB64);
    if (raw.length < 4) continue;
    const id = be32(raw);
    const w = p.witnesses.find((x) => x.name === name && x.id === id);
    if (!w) continue; // a witness not in the policy: neither counts nor fails
    const forged = (why) => new Error("witness " + w.label + " (" + w.name + "): " + why +
      " — a forged cosignature, or the checkpoint was altered after it was cosigned");
    if (raw.length !== 4 + 8 + 64) throw forged("the cosignature is " + (raw.length - 4) + " bytes, not 72");
    const ts = new DataView(raw.buffer, raw.byteOffset + 4, 8).getBigUint64(0);
    if (ts > 0x7fffffffffffffffn) throw forged("the cosignature's timestamp is out of range");
    const k = await crypto.subtle.importKey("raw", w.key, { name: "Ed25519" }, false, ["verify"]);
    const msg = enc.encode("cosignature/v1\ntime " + ts + "\n" + body);
    if (!(await crypto.subtle.verify({ name: "Ed25519" }, k, raw.slice(12), msg))) throw forged("the cosignature does not verify");
    if (ts > BigInt(now + MAX_CLOCK_SKEW_SECS)) ahead.push({ w, ts });
    else if (!cosigned.some((c) => c.w === w)) cosigned.push({ w, ts });
  }
  const labels = cosigned.map((c) => c.w.label);
  const list = (cs) => cs.map((c) => c.w.label + " (" + c.w.name + ", at " + local(Number(c.ts) * 1000) + ")").join(", ");
  const of = "of the policy's " + p.witnesses.length + " witness" + (p.witnesses.length === 1 ? "" : "es");
  if (!satisfied(p, labels)) {
    const late = ahead.filter((a) => !labels.includes(a.w.label));
    throw new Error("the witness quorum is not met: cosigned by " + cosigned.length + " " + of +
      (cosigned.length ? " (" + list(cosigned) + ")" : "") + ", the quorum is " + describeQuorum(p) +
      (late.length ? "; not counted, dated more than " + MAX_CLOCK_SKEW_SECS + " s ahead of this computer's clock: " + list(late) : ""));
  }
  return "cosigned by " + cosigned.length + " " + of + (cosigned.length ? ": " + list(cosigned) : "") +
    "; the quorum (" + describeQuorum(p) + ") is met";
}

// Each check is numbered: only the latest one writes its result (a check started before the
// policy changed must not overwrite the check under the new policy).
let verifying = 0;

async function verify() {
  const mine = ++verifying;
  const result = { textContent: "", className: "" };
  await verifyInto(result);
  if (mine !== verifying) return;
  $("verify-result").textContent = result.textContent;
  $("verify-result").className = result.className;
}

async function verifyInto(out) {
  try {
    const key = (await (await fetch("/v1/audit/key")).text()).trim();
    const note = await (await fetch("/v1/audit/checkpoint")).text();
    // <name>+<8 hex key id>+<base64>: the base64 may itself contain "+".
    const first = key.indexOf("+");
    const name = key.slice(0, first);
    const keyB64 = key.slice(first + 10);
    const raw = b64(keyB64);
    if (raw[0] !== 1 || raw.length !== 33) throw new Error("not an Ed25519 key");
    const cut = note.lastIndexOf("\n\n");
    const body = note.slice(0, cut + 1);
    const lines = body.split("\n");
    const sigLine = note.slice(cut + 2).split("\n").find((l) => l.startsWith("\u2014 " + name + " "));
    if (!sigLine) throw new Error("no signature by " + name);
    const sig = b64(sigLine.split(" ")[2]).slice(4);
    let signed;
    try {
      const k = await crypto.subtle.importKey("raw", raw.slice(1), { name: "Ed25519" }, false, ["verify"]);
      signed = await crypto.subtle.verify({ name: "Ed25519" }, k, sig, enc.encode(body));
    } catch (e) {
      signed = null; // this browser has no Ed25519 in WebCrypto
    }
    if (signed === false) throw new Error("the checkpoint's signature does not verify");
    if (lines[0] !== name) throw new Error("checkpoint of another log: " + lines[0]);
    const size = Number(lines[1]);
    const root = b64(lines[2]);
    let text = "signature " + (signed ? "valid" : "not checked (no Ed25519 in this browser)") +
      "; " + size + " entries";
    // The officer's witness policy, if one is kept: the quorum's cosignatures, or a refusal.
    const policy = await keptPolicy().catch((e) => { throw new Error("your witness policy cannot be used: " + e.message); });
    if (policy) {
      if (policy.logs.length && !policy.logs.some((l) => l.name === name && eq(l.key, raw.slice(1)))) {
        throw new Error("the log's key " + key + " is not one of the log keys in your witness policy");
      }
      if (signed === null) throw new Error("this browser cannot check Ed25519 signatures, so the witnesses' cosignatures cannot be checked");
      text += "; " + await checkCosignatures(policy, body, note.slice(cut + 2));
    }
    const seen = JSON.parse(localStorage.getItem("kp-audit-checkpoint") || "null");
    if (!seen || seen.origin !== name) {
      text += "; first check in this browser: this checkpoint is trusted on first use and " +
        "remembered, and every later check proves the log only grew from it";
    }
    if (seen && seen.origin === name) {
      if (seen.size > size) throw new Error("the log shrank from " + seen.size + " to " + size + " entries");
      const p = await (await api("/v1/audit/proof/consistency?first=" + seen.size + "&second=" + size)).json();
      const ok = await verifyConsistency(seen.size, size, p.proof.map(b64), b64(seen.root), root);
      if (!ok) throw new Error("history was rewritten since the checkpoint of " + seen.size + " entries");
      text += "; extends the checkpoint of " + seen.size + " entries seen earlier";
    }
    localStorage.setItem("kp-audit-checkpoint", JSON.stringify({ origin: name, size, root: lines[2] }));
    out.textContent = "VERIFIED: " + text;
    out.className = "ok";
  } catch (e) {
    out.textContent = "NOT VERIFIED: " + e.message;
    out.className = "bad";
  }
}

$("search").addEventListener("click", search);
$("csv").addEventListener("click", exportCsv);
$("history").addEventListener("click", lookupHistory);
$("case-history").addEventListener("click", caseHistory);
$("verify").addEventListener("click", verify);
$("witness-keep").addEventListener("click", keepPolicy);
$("witness-forget").addEventListener("click", forgetPolicy);
showPolicy();

KpSignIn.start({
  onChange: (who) => {
    $("rows").textContent = "";
    setStatus("");
    if (who) verify().then(search);
  },
});
