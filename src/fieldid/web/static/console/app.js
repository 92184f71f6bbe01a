// FieldID oversight console: audit log and chain, challenges, misidentification register,
// activity, transparency report and accuracy. Talks only to the HTTP API.
import { api, apiKey, setApiKey } from "/static/api.js";
import { h, $, $$, show, fmtFmr, fmtNum, fmtDate, toast, errorBox, renderBanners } from "/static/ui.js";
import { stackedBars, legend, logXChart } from "/static/chart.js";

const EVENT_TYPES = ["search.identify", "search.verify", "search.refused", "identity.enroll", "identity.sample_add",
  "identity.delete", "identity.view", "gallery.create", "gallery.update", "record.access", "review.decision",
  "review.evidence", "challenge.file", "challenge.resolve", "audit.export", "audit.search", "admin", "auth.failure",
  "retention.purge", "alert.query_volume"];
const TABS = { audit: "audit.read", challenges: "challenge.resolve", register: "report.read", activity: "report.read",
  transparency: "report.read", accuracy: "gallery.read" };
const state = { me: null, health: null, events: [], users: {} };

function who(id) { const u = state.users[id]; return u ? `${u.username} (${u.role.replace("_", " ")})` : id; }

function can(p) { return state.me && state.me.permissions.includes(p); }

function screen(name) {
  for (const s of $$("main > section")) show(s, s.id === `screen-${name}`);
  for (const b of $$("#tabs button")) b.setAttribute("aria-current", b.dataset.tab === name ? "page" : "false");
  if (name !== "signin") location.hash = name;
}

async function start() {
  $("#signin-form").addEventListener("submit", onSignIn);
  $("#signout").addEventListener("click", () => { setApiKey(null); location.hash = ""; location.reload(); });
  for (const b of $$("#tabs button")) b.addEventListener("click", () => open(b.dataset.tab));
  $("#audit-form").addEventListener("submit", (ev) => { ev.preventDefault(); searchAudit(); });
  $("#audit-export").addEventListener("click", exportAudit);
  $("#challenge-status").addEventListener("change", loadChallenges);
  $("#challenge-form").addEventListener("submit", fileChallenge);
  $("#activity-form").addEventListener("submit", (ev) => { ev.preventDefault(); loadActivity(); });
  $("#transparency-form").addEventListener("submit", (ev) => { ev.preventDefault(); loadTransparency(); });
  const sel = $("#audit-form select[name=event_type]");
  EVENT_TYPES.forEach(t => sel.append(h("option", { value: t }, t)));
  for (const form of ["#activity-form", "#transparency-form"]) {
    $(`${form} input[name=since]`).value = day(-30); $(`${form} input[name=until]`).value = day(1);
  }
  try { state.health = await api("/v1/health", { key: null }); } catch (e) { state.health = null; }
  renderBanners($("#banners"), { demo: state.health && state.health.demo, training: false });
  if (apiKey()) { try { await loadUser(); return afterSignIn(); } catch (e) { setApiKey(null); } }
  screen("signin");
}

function day(offset) { const d = new Date(Date.now() + offset * 86400000); return d.toISOString().slice(0, 10); }

async function loadUser() {
  state.me = await api("/v1/me");
  $("#who").textContent = `${state.me.username} · ${state.me.role.replace("_", " ")} · ${state.me.agency_id}`;
  show($("#signout")); show($("#tabs"));
  for (const b of $$("#tabs button")) show(b, can(TABS[b.dataset.tab]));
  show($("#agency-filter"), state.me.role === "system_admin");
  show($("#audit-export"), can("audit.export"));
  show($("#file-challenge"), can("challenge.file"));
}

async function onSignIn(ev) {
  ev.preventDefault();
  $("#signin-error").replaceChildren();
  setApiKey($("#api-key").value.trim());
  try { await loadUser(); } catch (e) { setApiKey(null); $("#signin-error").append(errorBox(e)); return; }
  $("#api-key").value = "";
  afterSignIn();
}

async function afterSignIn() {
  if (can("audit.read")) {
    try { for (const u of await api("/v1/web/users")) state.users[u.id] = u; } catch (e) { /* ids stay ids */ }
  }
  const wanted = location.hash.slice(1);
  const first = Object.keys(TABS).find(t => can(TABS[t]));
  if (!first) { screen("signin"); $("#signin-error").replaceChildren(errorBox({ message: "Your role has no oversight view." })); return; }
  open(wanted && TABS[wanted] && can(TABS[wanted]) ? wanted : first);
}

function open(tab) {
  screen(tab);
  ({ audit: openAudit, challenges: loadChallenges, register: loadRegister, activity: loadActivity,
     transparency: loadTransparency, accuracy: loadAccuracy })[tab]();
}

// -- audit -----------------------------------------------------------------------------------------------
async function openAudit() {
  loadChain();
  if (!Object.keys(state.users).length) {
    try { for (const u of await api("/v1/web/users")) state.users[u.id] = u; } catch (e) { /* ids stay ids */ }
  }
  searchAudit();
}

async function loadChain() {
  const el = $("#chain");
  try {
    const c = await api("/v1/audit/chain");
    el.className = `chain ${c.intact ? "intact" : "broken"}`;
    el.dataset.intact = String(c.intact);
    el.replaceChildren(...(c.intact
      ? [`Hash chain intact: ${c.events.toLocaleString("en")} events verified, head #${c.head_seq} ${c.head_hash.slice(0, 16)}…`]
      : [`Hash chain BROKEN: ${c.breaks.length} problem(s) in ${c.events} events.`,
         h("ul", {}, c.breaks.map(b => h("li", `#${b.seq} ${b.problem}: ${b.detail}`)))]));
  } catch (e) { el.className = "chain"; el.replaceChildren(errorBox(e)); }
}

function auditFilters() {
  const f = new FormData($("#audit-form"));
  const q = {};
  for (const [k, v] of f.entries()) if (String(v).trim()) q[k] = String(v).trim();
  if (q.since) q.since = `${q.since}T00:00:00Z`;
  if (q.until) q.until = `${q.until}T00:00:00Z`;
  return q;
}

async function searchAudit() {
  const root = $("#audit-results");
  $("#audit-detail").replaceChildren();
  try {
    const page = await api("/v1/audit/events", { query: { ...auditFilters(), limit: 200 } });
    state.events = page.events;
    $("#audit-count").textContent = `${page.total} event(s) found${page.total > page.events.length ? `; showing the newest ${page.events.length}` : ""}.`;
    root.replaceChildren(h("table", { id: "audit-table" },
      h("thead", {}, h("tr", {}, ["#", "Time", "Event", "User", "Agency", "Purpose", "Case"].map(t => h("th", t)))),
      h("tbody", {}, page.events.map((e, i) => h("tr.clickable", { dataset: { seq: e.seq }, tabindex: 0,
        onclick: () => showEvent(i), onkeydown: (ev) => { if (ev.key === "Enter") showEvent(i); } },
        h("td", e.seq), h("td", fmtDate(e.ts)), h("td", e.event_type), h("td", who(e.actor_id)), h("td", e.agency_id),
        h("td", e.purpose || ""), h("td", e.case_number || ""))))));
  } catch (e) { root.replaceChildren(errorBox(e)); }
}

function showEvent(i) {
  const e = state.events[i];
  $$("#audit-table tr.selected").forEach(r => r.classList.remove("selected"));
  const row = $(`#audit-table tr[data-seq="${e.seq}"]`); if (row) row.classList.add("selected");
  $("#audit-detail").replaceChildren(h("div.notice", { id: "event-detail" },
    h("h2", `Event #${e.seq}: ${e.event_type}`),
    h("dl.facts", {}, h("dt", "Id"), h("dd", e.id), h("dt", "Time"), h("dd", fmtDate(e.ts)),
      h("dt", "User"), h("dd", `${who(e.actor_id)} · ${e.actor_id}`), h("dt", "Agency"), h("dd", e.agency_id),
      h("dt", "Purpose"), h("dd", e.purpose || "—"), h("dt", "Case"), h("dd", e.case_number || "—"),
      h("dt", "Gallery"), h("dd", e.gallery_id || "—"),
      h("dt", "Previous hash"), h("dd", h("code", e.prev_hash)), h("dt", "Hash"), h("dd", h("code", e.hash))),
    h("h3", "Details"), h("pre", JSON.stringify(e.details, null, 2))));
  $("#event-detail").scrollIntoView({ block: "nearest" });
}

async function exportAudit() {
  try {
    const blob = await api("/v1/audit/export", { query: auditFilters() });
    const a = h("a", { href: URL.createObjectURL(blob), download: "fieldid-audit.ndjson" });
    document.body.append(a); a.click(); a.remove();
  } catch (e) { toast(e.message); }
}

// -- challenges ---------------------------------------------------------------------------------------------
async function loadChallenges() {
  const root = $("#challenges");
  const status = $("#challenge-status").value;
  try {
    const list = await api("/v1/challenges", { query: { status } });
    if (!list.length) { root.replaceChildren(h("p.notice", `No ${status} challenge.`)); return; }
    root.replaceChildren(...list.map(challengeCard));
  } catch (e) { root.replaceChildren(errorBox(e)); }
}

function challengeCard(c) {
  const card = h("article.card.challenge", { dataset: { id: c.id, status: c.status } },
    h("h3", `Challenge ${c.id.slice(0, 8)} — ${c.status}`),
    h("dl.facts", {}, h("dt", "Search receipt"), h("dd", h("code", c.search_id)),
      h("dt", "Filed"), h("dd", `${fmtDate(c.created_at)} by ${who(c.filed_by)}, on behalf of the ${c.on_behalf_of}`),
      h("dt", "Contact"), h("dd", c.contact), h("dt", "Grounds"), h("dd", c.grounds),
      c.resolution ? [h("dt", "Resolution"), h("dd", `${c.resolution} (${who(c.resolved_by)}, ${fmtDate(c.resolved_at)})`)] : null));
  if (c.status === "open") card.append(resolveForm(c, card));
  return card;
}

function resolveForm(c, card) {
  const identity = h("select", { name: "identity_id", "aria-label": "Misidentified candidate" }, h("option", { value: "" }, "— none / not known —"));
  api(`/v1/searches/${c.search_id}`).then(r => {
    for (const cand of (r.result && r.result.candidates) || []) {
      identity.append(h("option", { value: cand.identity_id }, `#${cand.rank} ${cand.pseudonym} (FMR ${fmtFmr(cand.fmr)})`));
    }
  }).catch(() => {});
  const form = h("form.notice.resolve", { onsubmit: async (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    const body = { outcome: f.get("outcome"), reasons: String(f.get("reasons") || "").trim() };
    if (!body.outcome || !body.reasons) { toast("Choose an outcome and give the reasons."); return; }
    if (body.outcome === "upheld" && f.get("identity_id")) body.identity_id = f.get("identity_id");
    try {
      const done = await api(`/v1/challenges/${c.id}/resolution`, { method: "POST", json: body });
      card.replaceWith(challengeCard(done));
      toast(`Challenge ${done.status}.`);
    } catch (e) { toast(e.message); }
  } },
  h("h3", "Resolve"),
  h("label.check", {}, h("input", { type: "radio", name: "outcome", value: "upheld" }), "Upheld: the result was wrong (recorded in the misidentification register)"),
  h("label.check", {}, h("input", { type: "radio", name: "outcome", value: "dismissed" }), "Dismissed"),
  h("label", {}, "Misidentified candidate (when upheld)", identity),
  h("label", {}, "Reasons", h("textarea", { name: "reasons", required: true, maxlength: 8000 })),
  h("p", h("button.primary", { type: "submit" }, "Record resolution")));
  return form;
}

async function fileChallenge(ev) {
  ev.preventDefault();
  const f = new FormData(ev.target);
  try {
    await api("/v1/challenges", { method: "POST", json: Object.fromEntries(f.entries()) });
    ev.target.reset(); toast("Challenge filed."); loadChallenges();
  } catch (e) { toast(e.message); }
}

// -- register and activity ---------------------------------------------------------------------------------------
async function loadRegister() {
  const root = $("#register");
  try {
    const rows = await api("/v1/web/misidentifications");
    if (!rows.length) { root.replaceChildren(h("p.notice", "The register is empty.")); return; }
    root.replaceChildren(h("table", { id: "register-table" },
      h("thead", {}, h("tr", {}, ["Recorded", "Agency", "Case", "Purpose", "Search", "Candidate", "Details"].map(t => h("th", t)))),
      h("tbody", {}, rows.map(m => h("tr", {}, h("td", fmtDate(m.recorded_at)), h("td", m.agency_id), h("td", m.case_number || ""),
        h("td", m.purpose || ""), h("td", h("code", m.search_id.slice(0, 8))), h("td", m.identity_id ? h("code", m.identity_id.slice(0, 8)) : "—"),
        h("td", m.details))))));
  } catch (e) { root.replaceChildren(errorBox(e)); }
}

function period(form) {
  const f = new FormData($(form));
  return { since: `${f.get("since")}T00:00:00Z`, until: `${f.get("until")}T00:00:00Z` };
}

const OUTCOMES = [{ key: "outcome_candidates", label: "candidates shown" }, { key: "outcome_no_candidate", label: "no candidate" },
  { key: "outcome_under_quality", label: "under quality" }, { key: "outcome_investigative_list", label: "investigative list" }];

async function loadActivity() {
  const root = $("#activity");
  try {
    const a = await api("/v1/web/activity", { query: period("#activity-form") });
    const cols = ["searches", ...OUTCOMES.map(o => o.key), "reviews", "confirms", "rejects"];
    const head = ["searches", ...OUTCOMES.map(o => o.label), "reviews", "confirms", "rejects"];
    root.replaceChildren(h("div", {},
      h("h2", "Per agency"),
      h("table", {}, h("thead", {}, h("tr", {}, h("th", "Agency"), head.map(t => h("th", t)))),
        h("tbody", {}, Object.entries(a.agencies).map(([ag, c]) => h("tr", {}, h("td", ag), cols.map(k => h("td", c[k])))))),
      h("h2", "Per officer"),
      a.officers.length ? stackedBars(a.officers.map(o => ({ label: o.username, values: o })), OUTCOMES, { title: "Searches by outcome" }) : null,
      a.officers.length ? legend(OUTCOMES) : null,
      h("table", { id: "officer-table" }, h("thead", {}, h("tr", {}, h("th", "User"), h("th", "Role"), head.map(t => h("th", t)))),
        h("tbody", {}, a.officers.map(o => h("tr", {}, h("td", o.username), h("td", o.role), cols.map(k => h("td", o[k]))))))));
  } catch (e) { root.replaceChildren(errorBox(e)); }
}

// -- transparency ---------------------------------------------------------------------------------------------
async function loadTransparency() {
  const root = $("#transparency");
  try {
    const rows = await api("/v1/reports/transparency", { query: period("#transparency-form") });
    if (!rows.length) { root.replaceChildren(h("p.notice", "No activity in this period.")); return; }
    const redress = [{ key: "confirmations", label: "confirmed candidates" }, { key: "challenges_filed", label: "challenges filed" },
      { key: "challenges_upheld", label: "challenges upheld" }, { key: "overturned_results", label: "overturned results" }];
    const keys = ["searches", "outcome_candidates", "outcome_no_candidate", "outcome_under_quality", "outcome_investigative_list",
      "candidates_shown", "federated_searches", "confirmations", "challenges_filed", "challenges_upheld", "challenges_dismissed",
      "overturned_results"];
    root.replaceChildren(
      h("div", { id: "transparency-chart" },
        stackedBars(rows.map(r => ({ label: r.agency_id, values: r })), OUTCOMES, { title: "Searches by outcome (training excluded)" }),
        legend(OUTCOMES),
        stackedBars(rows.map(r => ({ label: r.agency_id, values: r })), redress, { title: "Confirmations and redress" }),
        legend(redress)),
      h("table", { id: "transparency-table" }, h("thead", {}, h("tr", {}, h("th", "Measure"), rows.map(r => h("th", r.agency_id)))),
        h("tbody", {}, keys.map(k => h("tr", {}, h("td", k.replaceAll("_", " ")), rows.map(r => h("td", r[k])))))));
  } catch (e) { root.replaceChildren(errorBox(e)); }
}

// -- accuracy ---------------------------------------------------------------------------------------------------
async function loadAccuracy() {
  const root = $("#accuracy");
  try {
    const a = await api("/v1/web/accuracy");
    const det = a.curve.filter(p => p.fmr > 0).map(p => [p.fmr, p.fnmr]);
    root.replaceChildren(
      h("div.notice", {}, h("h2", "Calibration in force"),
        h("dl.facts", { id: "calibration" }, h("dt", "Model"), h("dd", a.model_id), h("dt", "Version"), h("dd", a.calibration_version),
          h("dt", "Data set"), h("dd", a.dataset), h("dt", "Created"), h("dd", a.created),
          h("dt", "Pairs"), h("dd", `${a.genuine_pairs.toLocaleString("en")} same-person, ${a.impostor_pairs.toLocaleString("en")} different-person`),
          h("dt", "Smallest measured FMR"), h("dd", fmtFmr(a.min_measurable_fmr)),
          a.notes && a.notes.caveat ? [h("dt", "Caveat"), h("dd", String(a.notes.caveat))] : null)),
      h("h2", "DET curve of the calibration"),
      h("p.hint", "False non-match rate (a person enrolled is missed) against false-match rate per comparison; dots are each gallery's operating threshold."),
      logXChart([{ label: "DET", points: det }], { xLabel: "FMR (log scale)", yLabel: "FNMR", title: a.model_id,
        marks: a.galleries.map(g => ({ x: g.threshold_fmr, y: g.fnmr_at_threshold, label: g.name })) }),
      h("h2", "Operating thresholds per gallery"),
      h("table", { id: "thresholds" }, h("thead", {}, h("tr", {}, ["Gallery", "Kind", "Size", "Target FPIR", "Threshold (score)", "FMR at threshold", "FNMR at threshold"].map(t => h("th", t)))),
        h("tbody", {}, a.galleries.map(g => h("tr", {}, h("td", g.name + (g.shared ? " (shared)" : "")), h("td", g.kind),
          h("td", g.gallery_size.toLocaleString("en")), h("td", `${fmtNum(g.target_fpir * 100, 3)}%`), h("td", fmtNum(g.threshold, 4)),
          h("td", fmtFmr(g.threshold_fmr)), h("td", `${fmtNum(g.fnmr_at_threshold * 100, 2)}%`))))),
      evaluationView(a.evaluation));
  } catch (e) { root.replaceChildren(errorBox(e)); }
}

function evaluationView(ev) {
  if (!ev) return h("div.notice", { id: "evaluation" }, h("h2", "Latest evaluation"),
    h("p", "No evaluation report on this server yet. Run ", h("code", "fieldid eval faces --manifest … --groups … --out <data dir>/eval/<date>"),
      " to publish per-group error rates and the gallery-size curve here."));
  const table = (rows, id) => {
    const cols = Object.keys(rows[0]);
    return h("table", { id }, h("thead", {}, h("tr", {}, cols.map(c => h("th", c.replaceAll("_", " "))))),
      h("tbody", {}, rows.map(r => h("tr", {}, cols.map(c => h("td", typeof r[c] === "number" ? fmtNum(r[c], 4) : String(r[c] ?? "—")))))));
  };
  const summary = Object.entries(ev.summary);
  return h("div", { id: "evaluation" }, h("h2", "Latest evaluation"),
    h("p.hint", `${ev.source}, written ${fmtDate(ev.modified)}`),
    summary.length ? h("dl.facts", {}, summary.map(([k, v]) => [h("dt", k.replaceAll("_", " ")), h("dd", typeof v === "number" ? fmtNum(v, 4) : String(v))])) : null,
    ev.groups.length ? [h("h3", "Error rates per group (at the evaluated threshold)"), table(ev.groups, "groups")] : h("p.hint", "No per-group table in this evaluation (run it with --groups)."),
    ev.gallery_size_curve.length ? [h("h3", "As the gallery grows"), table(ev.gallery_size_curve, "gallery-size")] : null);
}

start();
