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

function show(lines) {
  const body = $("rows");
  body.textContent = "";
  for (const l of lines) {
    const tr = document.createElement("tr");
    const e = l.entry;
    const s = l.summary;
    cell(tr, l.index);
    cell(tr, e ? new Date(e.time_ms).toISOString() : s ? new Date(s.time_ms).toISOString() : "");
    cell(tr, e ? e.operation : s ? s.operation : "");
    cell(tr, e ? e.action : "");
    cell(tr, e ? (e.actor_org || "") + (e.actor_user ? " / " + e.actor_user : "") : "");
    cell(tr, e ? [e.purpose, e.legal_basis, e.case_reference].filter(Boolean).join(" / ") : "");
    cell(tr, e ? e.source_orgs.join(", ") : "");
    cell(tr, e ? e.recipients.join(", ") : "");
    cell(tr, e ? (e.decision || "") + (e.reasons.length ? " (" + e.reasons.join(", ") + ")" : "") : "");
    cell(tr, l.withheld === "embargo"
      ? "details under embargo until " + new Date(l.embargo_until * 1000).toISOString().slice(0, 10)
      : l.withheld || "");
    body.appendChild(tr);
  }
  setStatus(lines.length + " entries");
}

function reviewQuery() {
  const p = new URLSearchParams();
  const day = (v) => Date.parse(v + "T00:00:00Z");
  if ($("from").value) p.set("from", day($("from").value));
  if ($("to").value) p.set("to", day($("to").value) + 86400000);
  for (const f of ["purpose", "case", "partner", "operation"]) {
    if ($(f).value.trim()) p.set(f, $(f).value.trim());
  }
  p.set("limit", "1000");
  return p;
}

async function search() {
  try {
    const v = await (await api("/v1/audit/review?" + reviewQuery())).json();
    show(v.entries);
  } catch (e) { setStatus("Review failed: " + e.message, true); }
}

async function exportCsv() {
  try {
    const p = reviewQuery();
    p.set("format", "csv");
    const blob = await (await api("/v1/audit/review?" + p)).blob();
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = "kruispunt-audit-review.csv";
    a.click();
    setStatus("CSV exported");
  } catch (e) { setStatus("Export failed: " + e.message, true); }
}

async function lookupHistory() {
  try {
    const p = new URLSearchParams({ pseudonym: $("pseudonym").value.trim() });
    const v = await (await api("/v1/audit/disclosures?" + p)).json();
    show(v.entries);
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
