// Small DOM and formatting helpers (no framework).

/** h("div.card", {onclick}, child, "text", [more]) */
export function h(spec, attrs, ...children) {
  const [tag, ...classes] = spec.split(".");
  const el = document.createElement(tag || "div");
  if (classes.length) el.className = classes.join(" ");
  if (attrs !== undefined && attrs !== null && (typeof attrs !== "object" || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs); attrs = null;
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

export function show(el, on = true) { el.toggleAttribute("hidden", !on); }  // works for SVG too

/** A false-match rate as words and number: "1 in 1.2 million (8.1e-7)". */
export function fmtFmr(fmr) {
  if (fmr === null || fmr === undefined) return "—";
  if (fmr <= 0) return "below measurable (0)";
  const inv = 1 / fmr;
  return `1 in ${fmtBig(inv)} (${fmr.toExponential(1)})`;
}

export function fmtBig(x) {
  if (x >= 1e9) return (x / 1e9).toPrecision(2) + " billion";
  if (x >= 1e6) return (x / 1e6).toPrecision(2) + " million";
  if (x >= 100) return Math.round(x).toLocaleString("en");
  return x.toPrecision(2);
}

export function fmtNum(x, digits = 3) {
  if (x === null || x === undefined) return "—";
  if (x !== 0 && Math.abs(x) < 0.001) return x.toExponential(1);
  return Number(x.toFixed(digits)).toString();
}

export function fmtDate(s) {
  if (!s) return "—";
  const d = new Date(s);
  return isNaN(d) ? String(s) : d.toISOString().replace("T", " ").slice(0, 19) + " UTC";
}

/** "3 h ago", "12 days ago": how fresh a record is. */
export function ago(s) {
  if (!s) return "unknown";
  const ms = Date.now() - new Date(s).getTime();
  if (isNaN(ms)) return "unknown";
  const m = ms / 60000;
  if (m < 1) return "just now";
  if (m < 90) return `${Math.round(m)} min ago`;
  if (m < 48 * 60) return `${Math.round(m / 60)} h ago`;
  return `${Math.round(m / 1440)} days ago`;
}

let toastTimer;
export function toast(text) {
  let el = $(".toast");
  if (!el) { el = h("div.toast", { role: "status", "aria-live": "polite" }); document.body.append(el); }
  el.textContent = text; el.hidden = false;
  clearTimeout(toastTimer); toastTimer = setTimeout(() => { el.hidden = true; }, 4000);
}

export function errorBox(err) {
  const msg = err && err.message ? err.message : String(err);
  const code = err && err.code ? ` [${err.code}]` : "";
  return h("div.error", { role: "alert" }, msg + code);
}

/** Banners for DEMO data and TRAINING mode (shown at the top of every screen). */
export function renderBanners(root, { demo, training }) {
  root.replaceChildren();
  if (training) root.append(h("div.banner.training", { id: "training-banner", role: "alert" },
    h("span", "Training mode — practice only, not a real search")));
  if (demo) root.append(h("div.banner.demo", { id: "demo-banner" },
    h("span", "DEMO data — not real people", h("span.wide", " (pseudonyms over research images, no real enrolment)"))));
  document.body.classList.toggle("training", !!training);
}
