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
    let after = null, before = null, count = 0, pages = 0;
    for (;;) {
      const p = reviewQuery();
      if (after !== null) { p.set("after", after); p.set("before", before); }
      const v = await (await api("/v1/audit/review?" + p)).json();
      if (before === null) before = v.tree_size;
      learnNames(v);
      addRows(v.entries);
      count += v.entries.length;
      pages += 1;
      after = v.next;
      if (after === null || after === undefined) break;
      setStatus(count + " entries so far, reading on…");
    }
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

async function verify() {
  const out = $("verify-result");
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
$("verify").addEventListener("click", verify);

KpSignIn.start({
  onChange: (who) => {
    $("rows").textContent = "";
    setStatus("");
    if (who) verify().then(search);
  },
});
