// The sign-in shared by the broker's pages (/audit/ and /beeld/), served as /web/signin.js.
//
// A page holds a partner user's bearer token (a JWT the partner signed) in sessionStorage, for
// this tab only, and sends it only to this broker. Two ways in:
//  - pasting a token into the field: the visitor chose it, so it is taken;
//  - a link carrying `#token=…` in the fragment (never sent to a server): the token is taken out
//    of the address bar at once and NOT used until the visitor confirms, after being shown the
//    organisation, user and roles the token names. Without that question a link would sign the
//    visitor in as whoever's token it carries (login CSRF): what they then look up or type is
//    done, and recorded in the audit trail, in the other organisation's name, where that
//    organisation can read it.
// Whoever is signed in is always on screen (and in the tab's title), and every name shown comes
// from the token's claims, written with textContent only (the claims are the token maker's
// text). The broker checks the token on every request; a forged claim fails there.
"use strict";

// eslint-disable-next-line no-unused-vars
const KpSignIn = (() => {
  const STORAGE_KEY = "kp-token";
  const $ = (id) => document.getElementById(id);
  let pending = null; // a token from a link, waiting for the visitor's answer
  let onChange = () => {};
  let baseTitle = document.title;

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "hidden") e.hidden = v;
      else e.setAttribute(k, v);
    }
    for (const c of children) e.append(c);
    return e;
  }

  // The claims a token names (unverified: for showing only), or null if it is not a JWT.
  function claimsOf(token) {
    const parts = String(token).split(".");
    if (parts.length !== 3 || !/^[A-Za-z0-9_-]+$/.test(parts[1])) return null;
    try {
      const b64 = parts[1].replace(/-/g, "+").replace(/_/g, "/");
      const bin = atob(b64 + "===".slice((b64.length + 3) % 4));
      const c = JSON.parse(new TextDecoder().decode(Uint8Array.from(bin, (ch) => ch.charCodeAt(0))));
      if (!c || typeof c.iss !== "string" || typeof c.sub !== "string") return null;
      return {
        org: c.iss,
        user: c.sub,
        roles: Array.isArray(c.roles) ? c.roles.filter((r) => typeof r === "string") : [],
        exp: Number.isFinite(c.exp) ? c.exp : null,
        purpose: c.scope && typeof c.scope.purpose === "string" ? c.scope.purpose : null,
      };
    } catch (e) {
      return null;
    }
  }

  const token = () => sessionStorage.getItem(STORAGE_KEY) || "";
  const current = () => (token() ? claimsOf(token()) : null);
  const expired = (c) => c.exp !== null && c.exp * 1000 <= Date.now();
  const until = (c) => (c.exp === null ? "no expiry" : "until " + new Date(c.exp * 1000).toLocaleString("nl-NL", {
    timeZone: "Europe/Amsterdam", year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", timeZoneName: "short" }));

  // "user of org (roles: a, b; purpose p), until …" as DOM nodes.
  function describe(c) {
    const span = el("span", {});
    span.append(el("b", { class: "signin-user" }, c.user), " of ", el("b", { class: "signin-org" }, c.org),
      " (role" + (c.roles.length === 1 ? "" : "s") + ": ", el("b", { class: "signin-roles" }, c.roles.join(", ") || "none"),
      (c.purpose ? "; purpose " + c.purpose : "") + "), " + until(c));
    return span;
  }

  function render() {
    const who = $("signin-who");
    who.textContent = "";
    const c = current();
    if (c) {
      who.append("Signed in as ", describe(c), ".");
      who.className = "signin-who signed-in";
      document.title = baseTitle + " — " + c.org;
    } else {
      who.textContent = "Not signed in.";
      who.className = "signin-who";
      document.title = baseTitle;
    }
    $("signin-out").hidden = !c;
    const box = $("signin-confirm");
    box.hidden = pending === null;
    if (pending !== null) {
      const q = $("signin-question");
      q.textContent = "";
      q.append("The link you opened carries a token. It would sign you in as ", describe(pending.claims), ".");
      const now = current();
      if (now) q.append(" You are now signed in as ", el("b", {}, now.org), "; accepting replaces that.");
      $("signin-accept").textContent = "Sign in as " + pending.claims.org;
    }
  }

  function set(tok) {
    const c = claimsOf(tok);
    if (!c) return "this is not a Kruispunt token (a JWT naming an organisation and a user)";
    if (expired(c)) return "this token expired " + until(c).replace("until ", "at ");
    sessionStorage.setItem(STORAGE_KEY, tok);
    return null;
  }

  function message(text, bad) {
    const m = $("signin-message");
    m.textContent = text || "";
    m.className = bad ? "bad" : "";
  }

  function changed() {
    render();
    onChange(current());
  }

  function signInTyped() {
    const tok = $("signin-token").value.trim();
    $("signin-token").value = "";
    pending = null;
    const err = set(tok);
    message(err ? "Not signed in: " + err : "", Boolean(err));
    changed();
  }

  function accept() {
    const tok = pending && pending.token;
    pending = null;
    const err = tok ? set(tok) : "nothing to accept";
    message(err ? "Not signed in: " + err : "", Boolean(err));
    changed();
  }

  function reject() {
    pending = null;
    message("The link's token was discarded; nothing was signed in.");
    render();
  }

  function signOut() {
    sessionStorage.removeItem(STORAGE_KEY);
    pending = null;
    message("");
    changed();
  }

  // Takes a `#token=` out of the address bar and holds it for the visitor's answer.
  function fromFragment() {
    if (!location.hash) return;
    const params = new URLSearchParams(location.hash.slice(1));
    const tok = params.get("token");
    if (tok === null) return;
    history.replaceState(null, "", location.pathname + location.search);
    const t = tok.trim();
    if (t === token()) return; // the session this tab already has
    const c = claimsOf(t);
    if (!c) {
      message("The link carried something that is not a Kruispunt token; it was ignored.", true);
    } else if (expired(c)) {
      message("The link carried a token that expired " + until(c).replace("until ", "at ") + "; it was ignored.", true);
    } else {
      pending = { token: t, claims: c };
    }
  }

  // Builds the sign-in box into `<fieldset id="signin">` and reports every change of who is
  // signed in to `options.onChange(claims or null)` (called once at start when signed in).
  function start(options) {
    onChange = (options && options.onChange) || onChange;
    baseTitle = document.title;
    const box = $("signin");
    box.textContent = "";
    box.append(
      el("legend", {}, "Sign in"),
      el("p", { id: "signin-who", class: "signin-who", role: "status" }),
      el("p", { id: "signin-confirm", class: "signin-confirm", hidden: true },
        el("span", { id: "signin-question" }), " ",
        el("span", {}, "Accept only if this is your own token: everything you do here is then done, and recorded in the audit trail, in that organisation's name."),
        " ", el("button", { id: "signin-accept", type: "button" }, "Sign in"),
        " ", el("button", { id: "signin-reject", type: "button" }, "Discard")),
      el("label", {}, "Token ", el("input", { id: "signin-token", type: "password", size: "50", autocomplete: "off" })),
      " ", el("button", { id: "signin-go", type: "button" }, "Sign in"),
      " ", el("button", { id: "signin-out", type: "button" }, "Sign out"),
      " ", el("span", { id: "signin-message", role: "alert" }),
      el("br", {}),
      el("small", {}, "The token stays in this browser tab only (sessionStorage) and is sent only to this broker."),
    );
    $("signin-go").addEventListener("click", signInTyped);
    $("signin-token").addEventListener("keydown", (e) => { if (e.key === "Enter") signInTyped(); });
    $("signin-accept").addEventListener("click", accept);
    $("signin-reject").addEventListener("click", reject);
    $("signin-out").addEventListener("click", signOut);
    // A link into the page already open changes only the fragment: no reload, same question.
    window.addEventListener("hashchange", () => { fromFragment(); render(); });
    fromFragment();
    render();
    if (current()) onChange(current());
  }

  // Fetches `path` from this broker with the signed-in token; a non-2xx answer throws an Error
  // carrying the problem's `detail`, the HTTP `status` and the whole `problem` document.
  async function api(path, init) {
    const t = token();
    if (!t) throw new Error("not signed in");
    const opts = Object.assign({}, init || {});
    opts.headers = Object.assign({}, opts.headers || {}, { Authorization: "Bearer " + t });
    const r = await fetch(path, opts);
    if (!r.ok) {
      let problem = null;
      try { problem = await r.json(); } catch (e) { /* not a problem document */ }
      const err = new Error((problem && problem.detail) || "HTTP " + r.status);
      err.status = r.status;
      err.problem = problem;
      throw err;
    }
    return r;
  }

  return { start, api, current, token };
})();
