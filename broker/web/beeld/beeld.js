// The ondermijningsbeeld page (/beeld/): asks POST /v1/aggregates with the signed-in user's
// token (the shared sign-in, /web/signin.js) and draws what the broker released — a heat map of
// areas × themes, a trend per theme with the noise's 95 % range, the cross-sector view per
// district, and a printable local picture of one gemeente. Nothing is asked on its own: every
// question spends privacy budget, so every question is a button. A withheld cell is never drawn
// as a number: "< k" where it has fewer than k subjects, "—" where another rule withheld it.
// Everything shown is written with textContent or SVG attributes, never parsed as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const SVG_NS = "http://www.w3.org/2000/svg";
const REASONS = {
  below_k: "fewer than k subjects",
  too_few_sources: "too few supplying organisations",
  dominance: "one supplying organisation dominates the cell",
};

// --- small helpers ------------------------------------------------------------------------------

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const c of children) e.append(c);
  return e;
}

function svg(tag, attrs, ...children) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  for (const c of children) e.append(c);
  return e;
}

const pad = (n) => String(n).padStart(2, "0");
const day = (d) => d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate());
const today = () => day(new Date());
const eps = (x) => String(Number(Number(x).toFixed(3)));
const clock = (secs) => new Date(secs * 1000).toISOString().slice(11, 19) + " UTC";

// The first day of the month `back` months before the month of `isoDay`.
function monthStart(isoDay, back) {
  const y = Number(isoDay.slice(0, 4));
  const m = Number(isoDay.slice(5, 7)) - 1 - back;
  return day(new Date(Date.UTC(y, m, 1)));
}

// Every month `YYYY-MM` from the month of `from` to the month of `to`.
function monthsBetween(from, to) {
  const out = [];
  let y = Number(from.slice(0, 4));
  let m = Number(from.slice(5, 7));
  const end = Number(to.slice(0, 4)) * 12 + Number(to.slice(5, 7));
  while (y * 12 + m <= end && out.length < 400) {
    out.push(y + "-" + pad(m));
    m += 1;
    if (m > 12) { m = 1; y += 1; }
  }
  return out;
}

// An area's name from the answer (the registry's, `area_names`), or its code when it has none.
const areaName = (answer, code) => (answer.area_names || {})[code] || code;

// A row header for an area: its name, and its code beside it when they differ.
function areaHeader(answer, code) {
  const name = areaName(answer, code);
  const th = el("th", { scope: "row", "data-code": code, title: code }, name);
  if (name !== code) th.append(" ", el("small", { class: "code" }, code));
  return th;
}

const distinct = (values) => [...new Set(values.filter((v) => v !== undefined))].sort();

// What a cell shows: its value, "< k", or "—" (withheld by another rule).
function shown(cell, k) {
  if (!cell.suppressed && cell.value !== null && cell.value !== undefined) return String(cell.value);
  return cell.reason === "below_k" ? "< " + k : "—";
}

function why(cell, k) {
  if (!cell.suppressed) return "";
  return "withheld: " + (REASONS[cell.reason] || "suppressed") + (cell.reason === "below_k" ? " (k = " + k + ")" : "");
}

function setStatus(text, bad) {
  $("status").textContent = text;
  $("status").classList.toggle("bad", Boolean(bad));
}

// --- asking -------------------------------------------------------------------------------------

// The question with the form's purpose, measure and period, `group_by` and any `extra` fields.
function question(groupBy, extra) {
  return Object.assign({
    purpose: $("purpose").value.trim() || "ondermijningsbeeld",
    measure: $("measure").value,
    group_by: groupBy,
    from: $("from").value,
    to: $("to").value,
  }, extra || {});
}

function showBudget(left, spent) {
  const b = $("budget");
  b.textContent = "ε left this month: " + eps(left) +
    (spent === undefined ? "" : " (the last answer cost " + eps(spent) +
      (Number(spent) === 0 ? ": a repeat within the same snapshot" : "") + ")");
  b.dataset.epsilonLeft = eps(left);
}

// Asks the broker one question; shows the budget and snapshot of the answer, or the problem.
async function ask(what, q) {
  if (!q.from || !q.to || q.from > q.to) {
    setStatus(what + ": choose a period (From on or before To)", true);
    throw new Error("no period");
  }
  setStatus(what + ": asking…");
  try {
    const r = await KpSignIn.api("/v1/aggregates", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(q),
    });
    const a = await r.json();
    showBudget(a.epsilon_left, a.epsilon_spent);
    $("snapshot").textContent = "Answers come from snapshot #" + a.snapshot.id + " of " +
      clock(a.snapshot.published) + "; the next is due at " + clock(a.snapshot.next) + ".";
    setStatus(what + ": " + a.cells.length + " cells, " + a.cells.filter((c) => c.suppressed).length +
      " withheld (audit entry #" + a.audit_seq + ")");
    return a;
  } catch (e) {
    const p = e.problem || {};
    const reasons = Array.isArray(p.reasons) && p.reasons.length ? " [" + p.reasons.join(", ") + "]" : "";
    if (typeof p.epsilon_left === "number") showBudget(p.epsilon_left);
    setStatus(what + " refused: " + e.message + reasons, true);
    throw e;
  }
}

// --- heat map -----------------------------------------------------------------------------------

const LOW = [255, 247, 236];
const MID = [252, 141, 89];
const HIGH = [127, 0, 0];

// A colour on the light-to-dark scale for t in [0, 1].
function colour(t) {
  const [a, b, u] = t < 0.5 ? [LOW, MID, t * 2] : [MID, HIGH, (t - 0.5) * 2];
  const c = a.map((x, i) => Math.round(x + (b[i] - x) * u));
  return "rgb(" + c.join(", ") + ")";
}

// Draws `answer`'s cells as a table, `rowDim` down and `colDim` across.
function heatmap(container, answer, rowDim, colDim) {
  container.textContent = "";
  const rows = distinct(answer.cells.map((c) => c[rowDim]));
  const cols = distinct(answer.cells.map((c) => c[colDim]));
  const byKey = new Map(answer.cells.map((c) => [c[rowDim] + "\u0000" + c[colDim], c]));
  const released = answer.cells.filter((c) => !c.suppressed && c.value !== null).map((c) => c.value);
  const max = Math.max(1, ...released);
  const table = el("table", { class: "heat", "data-measure": answer.measure });
  const head = el("tr", {}, el("th", { scope: "col" }, rowDim + " \\ " + colDim));
  for (const c of cols) head.append(el("th", { scope: "col" }, c));
  table.append(el("thead", {}, head));
  const body = el("tbody");
  for (const r of rows) {
    const tr = el("tr", {}, areaHeader(answer, r));
    for (const c of cols) {
      const cell = byKey.get(r + "\u0000" + c);
      const td = el("td", { "data-row": r, "data-col": c });
      if (!cell) {
        td.className = "absent";
        td.title = "not in the answer";
      } else if (cell.suppressed) {
        td.className = "suppressed";
        td.textContent = shown(cell, answer.k);
        td.title = areaName(answer, r) + ", " + c + ": " + why(cell, answer.k);
        td.dataset.reason = cell.reason || "";
      } else {
        const t = cell.value / max;
        td.className = "released";
        td.textContent = String(cell.value);
        td.dataset.value = String(cell.value);
        td.style.backgroundColor = colour(t);
        td.style.color = t > 0.6 ? "#fff" : "#111";
        td.title = areaName(answer, r) + ", " + c + ": " + cell.value + " ± " + answer.margin_95 + " (95 % of the noise)";
      }
      tr.append(td);
    }
    body.append(tr);
  }
  table.append(body);
  container.append(table);
  return rows;
}

function legend(container, answer) {
  container.textContent = "";
  const released = answer.cells.filter((c) => !c.suppressed && c.value !== null).map((c) => c.value);
  const max = Math.max(1, ...released);
  const scale = el("span", { class: "scale" });
  for (let i = 0; i <= 4; i++) {
    const s = el("span", { class: "swatch" }, String(Math.round((max * i) / 4)));
    s.style.backgroundColor = colour(i / 4);
    s.style.color = i / 4 > 0.6 ? "#fff" : "#111";
    scale.append(s);
  }
  container.append(scale, " ",
    el("span", { class: "swatch suppressed" }, "< " + answer.k), " fewer than " + answer.k + " subjects; ",
    el("span", { class: "swatch suppressed" }, "—"), " withheld (too few sources, or one dominates). ",
    "Values are rounded to multiples of " + answer.rounding + " and carry noise of up to ±" +
    answer.margin_95 + " (95 %).");
}

// The area boxes' suggestions: the codes of the drawn areas, labelled with their names.
function fillAreas(values, answer) {
  const list = $("areas");
  list.textContent = "";
  for (const v of values) list.append(el("option", { value: v, label: answer ? areaName(answer, v) : v }));
}

async function drawMap() {
  const area = $("area").value;
  const q = question([area, "theme"]);
  const a = await ask("Heat map", q).catch(() => null);
  if (!a) return;
  const rows = heatmap($("map"), a, area, "theme");
  legend($("map-legend"), a);
  $("map-caption").textContent = a.measure + " per " + area + " and theme, " + q.from + " to " + q.to + ".";
  fillAreas(rows, a);
}

// --- trend --------------------------------------------------------------------------------------

// One small chart per theme: the released values as a line, ± margin_95 shaded around it,
// withheld months as grey marks on the base line.
function trends(container, answer, months) {
  container.textContent = "";
  const themes = distinct(answer.cells.map((c) => c.theme));
  const m = answer.margin_95;
  const released = answer.cells.filter((c) => !c.suppressed && c.value !== null);
  // A shared scale, so that themes compare; rounded up to a multiple of ten.
  const yMax = Math.ceil(Math.max(answer.k, ...released.map((c) => c.value + m)) / 10) * 10;
  const W = 320, H = 150, L = 40, R = 10, T = 12, B = 26;
  const x = (i) => L + (months.length < 2 ? 0 : (i * (W - L - R)) / (months.length - 1));
  const y = (v) => T + (H - T - B) * (1 - Math.max(0, v) / yMax);
  for (const theme of themes) {
    const byMonth = new Map(answer.cells.filter((c) => c.theme === theme).map((c) => [c.month, c]));
    const chart = svg("svg", { viewBox: "0 0 " + W + " " + H, width: W, height: H, role: "img",
      "aria-label": "trend of " + theme, "data-theme": theme });
    chart.append(
      svg("line", { x1: L, y1: y(0), x2: W - R, y2: y(0), class: "axis" }),
      svg("text", { x: L - 4, y: y(0) + 4, class: "tick end" }, "0"),
      svg("text", { x: L - 4, y: y(yMax) + 4, class: "tick end" }, String(Math.round(yMax))),
      svg("text", { x: L, y: H - 6, class: "tick" }, months[0]),
      svg("text", { x: W - R, y: H - 6, class: "tick end" }, months[months.length - 1]),
    );
    // Runs of consecutive released months: band, line and points.
    let run = [];
    const flush = () => {
      if (run.length === 0) return;
      const upper = run.map(([i, v]) => x(i) + "," + y(v + m));
      const lower = run.slice().reverse().map(([i, v]) => x(i) + "," + y(v - m));
      if (run.length > 1) {
        chart.append(svg("polygon", { points: upper.concat(lower).join(" "), class: "band" }));
        chart.append(svg("polyline", { points: run.map(([i, v]) => x(i) + "," + y(v)).join(" "), class: "line" }));
      } else {
        const [i, v] = run[0];
        chart.append(svg("line", { x1: x(i), y1: y(v + m), x2: x(i), y2: y(v - m), class: "band-bar" }));
      }
      for (const [i, v] of run) {
        chart.append(svg("circle", { cx: x(i), cy: y(v), r: 2.5, class: "point", "data-month": months[i], "data-value": v },
          svg("title", {}, months[i] + ": " + v + " ± " + m)));
      }
      run = [];
    };
    months.forEach((month, i) => {
      const c = byMonth.get(month);
      if (c && !c.suppressed && c.value !== null) {
        run.push([i, c.value]);
        return;
      }
      flush();
      if (c) {
        chart.append(svg("rect", { x: x(i) - 2, y: y(0) - 6, width: 4, height: 6, class: "withheld",
          "data-month": month }, svg("title", {}, month + ": " + shown(c, answer.k) + " (" + why(c, answer.k) + ")")));
      }
    });
    flush();
    container.append(el("figure", { class: "trend" }, chart, el("figcaption", {}, theme)));
  }
  if (themes.length === 0) container.append(el("p", {}, "No cells in this answer."));
}

function trendCaption(answer) {
  return "Line: the released values (multiples of " + answer.rounding + "). Shaded: ±" + answer.margin_95 +
    ", the range that holds 95 % of the noise. Grey marks on the base line: months withheld (< " +
    answer.k + " or too few sources).";
}

// The filter an area box means: a gemeente code, a district id, or nothing (the whole unit).
function areaFilter(text) {
  const v = text.trim();
  if (!v) return undefined;
  return /^GM[0-9]{4}$/.test(v) ? { gemeente: [v] } : { district: [v] };
}

async function drawTrend() {
  const months = Number($("months").value);
  const to = today();
  const from = monthStart(to, months - 1);
  const q = question(["theme", "month"], { from, to });
  const f = areaFilter($("trend-area").value);
  if (f) q.filter = f;
  const a = await ask("Trend", q).catch(() => null);
  if (!a) return;
  trends($("trend"), a, monthsBetween(from, to));
  $("trend-caption").textContent = a.measure + " per theme and month, " + from + " to " + to +
    (f ? " in " + areaName(a, $("trend-area").value.trim()) : " in the whole unit") + ". " + trendCaption(a);
}

// --- cross-sector -------------------------------------------------------------------------------

async function drawCross() {
  const q = question(["district", "theme"], { measure: "cross_sector" });
  const a = await ask("Cross-sector view", q).catch(() => null);
  if (!a) return;
  heatmap($("cross"), a, "district", "theme");
  $("cross-caption").textContent = "Subjects signalled from at least two sectors, per district and theme, " +
    q.from + " to " + q.to + ": where the partners' branches meet the same subjects. Values rounded to " +
    a.rounding + ", noise ±" + a.margin_95 + " (95 %), withheld below k = " + a.k + ".";
}

// --- local picture (print) ----------------------------------------------------------------------

async function drawLocal() {
  const g = $("local-gemeente").value.trim();
  const out = $("local-picture");
  if (!/^GM[0-9]{4}$/.test(g)) {
    setStatus("Local picture: a gemeente is a CBS code, GM and four digits (e.g. GM0344)", true);
    return;
  }
  const who = KpSignIn.current();
  const q1 = question(["theme"], { filter: { gemeente: [g] }, totals: true });
  const a1 = await ask("Local picture", q1).catch(() => null);
  if (!a1) return;
  const to = today();
  const from = monthStart(to, 11);
  const q2 = question(["theme", "month"], { filter: { gemeente: [g] }, from, to });
  const a2 = await ask("Local picture (trend)", q2).catch(() => null);
  if (!a2) return;
  out.textContent = "";
  const table = el("table", { class: "local-table" },
    el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "theme"), el("th", { scope: "col" }, a1.measure))));
  const body = el("tbody");
  for (const c of a1.cells) {
    const td = el("td", { class: c.suppressed ? "suppressed" : "released", "data-theme": c.theme }, shown(c, a1.k));
    if (c.suppressed) td.title = why(c, a1.k);
    body.append(el("tr", {}, el("th", { scope: "row" }, c.theme), td));
  }
  if (a1.totals) {
    body.append(el("tr", { class: "total" }, el("th", { scope: "row" }, "all themes (its own noisy number)"),
      el("td", {}, shown(a1.totals, a1.k))));
  }
  table.append(body);
  const name = areaName(a1, g);
  const titled = name === g ? g : name + " (" + g + ")";
  const article = el("article", { class: "local-sheet", "data-gemeente": g },
    el("h1", {}, "Lokaal ondermijningsbeeld " + titled),
    el("p", { class: "meta" }, a1.measure + " from the partners' signals in " + titled + ", " + q1.from + " to " + q1.to +
      ". Prepared " + today() + " by " + (who ? who.user + " of " + who.org : "?") +
      " with Kruispunt (snapshot #" + a1.snapshot.id + ")."),
    table,
    el("h2", {}, "Last twelve months per theme"),
  );
  const tr = el("div", { class: "trends" });
  trends(tr, a2, monthsBetween(from, to));
  article.append(tr,
    el("p", { class: "terms" }, "How to read this: each number counts subjects (a person, company or vehicle " +
      "counted once however often it was signalled), carries random noise (95 % of it within ±" + a1.margin_95 +
      ") and is rounded to a multiple of " + a1.rounding + ". \u201c< " + a1.k + "\u201d: fewer than " + a1.k +
      " subjects, withheld; \u201c—\u201d: withheld because too few organisations supplied the signals or one " +
      "dominates. The total is its own noisy number, not the sum of the rows. " + trendCaption(a2) +
      " Released under purpose " + a1.purpose + "; audit entries #" + a1.audit_seq + " and #" + a2.audit_seq + "."));
  out.append(article);
  $("print-local").disabled = false;
}

// --- wiring -------------------------------------------------------------------------------------

function clearPictures() {
  for (const id of ["map", "map-legend", "map-caption", "trend", "trend-caption", "cross", "cross-caption", "local-picture", "snapshot"]) {
    $(id).textContent = "";
  }
  $("budget").textContent = "ε left this month: known after the first question.";
  delete $("budget").dataset.epsilonLeft;
  $("print-local").disabled = true;
  fillAreas([]);
}

$("to").value = today();
$("from").value = monthStart(today(), 11);
$("draw-map").addEventListener("click", drawMap);
$("draw-trend").addEventListener("click", drawTrend);
$("draw-cross").addEventListener("click", drawCross);
$("draw-local").addEventListener("click", drawLocal);
$("print-local").addEventListener("click", () => window.print());

// Another user's pictures never stay on screen for the next one.
KpSignIn.start({ onChange: () => { clearPictures(); setStatus(""); } });
