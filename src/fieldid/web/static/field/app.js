// FieldID field app: sign in → purpose and case → capture (camera or upload) → candidates to review.
// Talks only to the HTTP API. Results are candidates with calibrated error rates, never a verdict.
import { api, apiKey, setApiKey, imageUrl } from "/static/api.js";
import { h, $, $$, show, fmtFmr, fmtNum, fmtDate, ago, toast, errorBox, renderBanners } from "/static/ui.js";

const SHIFT = "fieldid.shift";       // purpose, case, legal basis, galleries: remembered for the shift
const FRAME_WIDTH = 480;              // live quality frames are downscaled to this width
const LIVE_EVERY_MS = 1800;

const state = { me: null, config: null, health: null, galleries: [], stream: null, still: null, stillQuality: null,
  liveTimer: null, liveBusy: false, result: null, mode: "face", fingers: [] };

const FINGER_NAMES = ["unknown finger", "right thumb", "right index", "right middle", "right ring", "right little",
  "left thumb", "left index", "left middle", "left ring", "left little"];

const OUTCOME_TEXT = {
  candidates: ["Candidates to review", "Possible candidates above the threshold. This is not an identification: check every candidate against documents before acting."],
  investigative_list: ["Investigative leads", "Leads below the operating threshold, labelled as such. Not grounds for any action on their own."],
  no_candidate: ["No candidate", "Nobody in the galleries searched scored above the threshold."],
  under_quality: ["Photo under the quality floor", "The photo is not good enough to search. Retake it; nothing was compared."],
};
const STRENGTH_TEXT = { strong: "Strong", moderate: "Moderate", limited: "Limited", weak: "Weak" };

// -- screens --------------------------------------------------------------------------------------
function screen(name) {
  for (const s of $$("main > section")) show(s, s.id === `screen-${name}`);
  $("#tab-search").setAttribute("aria-current", name === "queue" ? "false" : "page");
  $("#tab-queue").setAttribute("aria-current", name === "queue" ? "page" : "false");
  if (name !== "capture") stopCamera();
  window.scrollTo(0, 0);
}

function shift() { try { return JSON.parse(sessionStorage.getItem(SHIFT)) || null; } catch (e) { return null; } }

async function start() {
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("/field/sw.js", { scope: "/field/" }).catch(() => {});
  $("#signin-form").addEventListener("submit", onSignIn);
  $("#purpose-form").addEventListener("submit", onPurpose);
  $("#signout").addEventListener("click", signOut);
  $("#training-toggle").addEventListener("click", toggleTraining);
  $("#edit-purpose").addEventListener("click", () => showPurpose());
  $("#shutter").addEventListener("click", takePhoto);
  $("#retake").addEventListener("click", retake);
  $("#upload").addEventListener("change", onUpload);
  $("#search").addEventListener("click", runSearch);
  $$("input[name=mode]").forEach(r => r.addEventListener("change", () => setMode(r.value)));
  $("#finger-capture").addEventListener("change", () => {
    if (state.fingers.length) { state.fingers = []; renderFingers(); toast("Finger list cleared: one capture kind per search."); }
  });
  $("#new-search").addEventListener("click", () => showCapture());
  $("#tab-search").addEventListener("click", () => (shift() ? showCapture() : showPurpose()));
  $("#tab-queue").addEventListener("click", showQueue);
  $("#queue-refresh").addEventListener("click", showQueue);
  try { state.health = await api("/v1/health", { key: null }); } catch (e) { state.health = null; }
  renderBanners($("#banners"), { demo: state.health && state.health.demo, training: false });
  if (apiKey()) {
    try { await loadUser(); return afterSignIn(); } catch (e) { setApiKey(null); }
  }
  screen("signin");
}

async function loadUser() {
  [state.me, state.config] = await Promise.all([api("/v1/me"), api("/v1/web/config")]);
  const demo = (state.health && state.health.demo) || state.config.demo;
  renderBanners($("#banners"), { demo, training: state.me.training_mode });
  $("#who").textContent = `${state.me.username} · ${state.me.role.replace("_", " ")}`;
  show($("#signout"));
  const canToggle = state.me.permissions.includes("search") && state.me.role !== "trainee";
  show($("#training-toggle"), canToggle);
  $("#training-toggle").textContent = state.me.training_mode ? "Leave training" : "Training mode";
  show($("#tabs"), state.me.permissions.includes("review"));
}

async function onSignIn(ev) {
  ev.preventDefault();
  const key = $("#api-key").value.trim();
  $("#signin-error").replaceChildren();
  if (!key) { $("#signin-error").append(errorBox({ message: "Enter your API key." })); return; }
  setApiKey(key);
  try { await loadUser(); }
  catch (e) { setApiKey(null); $("#signin-error").append(errorBox(e)); return; }
  $("#api-key").value = "";
  afterSignIn();
}

function afterSignIn() {
  if (!state.me.permissions.includes("search")) {
    screen("signin");
    $("#signin-error").replaceChildren(errorBox({ message: "Your role cannot search. Oversight staff use the console at /console/." }));
    return;
  }
  const s = shift();
  if (s && s.training === state.me.training_mode) showCapture(); else showPurpose();
}

function signOut() {
  stopCamera(); setApiKey(null); sessionStorage.removeItem(SHIFT);
  state.me = null; $("#who").textContent = ""; show($("#signout"), false); show($("#training-toggle"), false);
  show($("#tabs"), false);
  renderBanners($("#banners"), { demo: state.health && state.health.demo, training: false });
  screen("signin");
}

async function toggleTraining() {
  try {
    await api("/v1/me/training-mode", { method: "PUT", json: { on: !state.me.training_mode } });
    sessionStorage.removeItem(SHIFT);
    await loadUser();
    toast(state.me.training_mode ? "Training mode on: practice searches only." : "Training mode off.");
    showPurpose();
  } catch (e) { toast(e.message); }
}

// -- purpose, case and legal basis ----------------------------------------------------------------
async function showPurpose() {
  screen("purpose");
  const s = shift() || {};
  const training = state.me.training_mode;
  const codes = training ? [state.config.training_purpose, ...state.config.purpose_codes] : state.config.purpose_codes;
  const sel = $("#purpose");
  sel.replaceChildren(h("option", { value: "" }, "— choose a purpose —"),
    ...codes.map(c => h("option", { value: c }, c.replaceAll("_", " "))));
  sel.value = s.purpose || (training ? state.config.training_purpose : "");
  $("#case-number").value = s.case_number || sessionStorage.getItem("fieldid.case") || "";
  $("#legal-basis").value = s.legal_basis || "";
  $("#authorization-ref").value = s.authorization_ref || "";
  const inv = state.me.permissions.includes("search.investigative");
  const fed = state.me.permissions.includes("search.federated") && !training;
  show($("#elevated"), inv || fed); show($("#investigative-row"), inv); show($("#federated-row"), fed);
  $("#investigative").checked = inv && !!s.investigative;
  $("#federated").checked = fed && !!s.federated;
  $("#justification").value = s.justification || "";
  $("#justification-hint").textContent = `(at least ${state.config.federated_justification_min_chars} characters)`;
  const syncFederated = () => {
    const on = $("#federated").checked;
    show($("#justification-row"), on);
    $("#gallery-list").disabled = on;
    if (on) $("#investigative").checked = false;
    $("#investigative").disabled = on;
  };
  $("#federated").onchange = syncFederated;
  syncFederated();
  const box = $("#gallery-list");
  box.replaceChildren(h("legend", "Galleries to search"));
  try {
    const all = await api("/v1/galleries");
    state.galleries = all.filter(g => (training ? g.kind === "training" : g.kind !== "training"));
  } catch (e) { box.append(errorBox(e)); return; }
  if (!state.galleries.length) box.append(h("p.notice", "No gallery is in reach."));
  const chosen = new Set(s.galleries || state.galleries.map(g => g.id));
  for (const g of state.galleries) {
    box.append(h("label.check", {},
      h("input", { type: "checkbox", name: "gallery", value: g.id, checked: chosen.has(g.id) }),
      `${g.name} `, h("span.hint", `(${g.identity_count.toLocaleString("en")} people, ${g.kind}${g.shared ? ", shared" : ""})`)));
  }
}

function onPurpose(ev) {
  ev.preventDefault();
  const err = $("#purpose-error"); err.replaceChildren();
  const value = {
    purpose: $("#purpose").value, case_number: $("#case-number").value.trim(),
    legal_basis: $("#legal-basis").value.trim(), authorization_ref: $("#authorization-ref").value.trim(),
    galleries: $$("input[name=gallery]:checked").map(i => i.value), training: state.me.training_mode,
    investigative: $("#investigative").checked, federated: $("#federated").checked,
    justification: $("#justification").value.trim(),
  };
  const missing = [];
  if (!value.purpose) missing.push("a purpose");
  if (!value.case_number) missing.push("a case number");
  if (!value.legal_basis) missing.push("the legal basis");
  if (!value.galleries.length && !value.federated) missing.push("at least one gallery");
  if (value.federated && value.justification.length < state.config.federated_justification_min_chars) {
    missing.push(`a written justification of at least ${state.config.federated_justification_min_chars} characters for the federated query`);
  }
  if (missing.length) { err.append(errorBox({ message: `Before any capture, give ${missing.join(", ")}.` })); return; }
  if (!/^[\w .:/#\-]{1,120}$/u.test(value.case_number)) {
    err.append(errorBox({ message: "Case number: letters, digits, spaces or . : / # - _ only." })); return;
  }
  sessionStorage.setItem(SHIFT, JSON.stringify(value));
  sessionStorage.setItem("fieldid.case", value.case_number);
  showCapture();
}

// -- capture ----------------------------------------------------------------------------------------
function showCapture() {
  const s = shift();
  if (!s) return showPurpose();
  screen("capture");
  const where = s.federated ? "FEDERATED query (all in reach)"
    : `${s.galleries.length} galler${s.galleries.length === 1 ? "y" : "ies"}${s.investigative ? " · with investigative leads" : ""}`;
  $("#context-line").textContent = `${s.purpose.replaceAll("_", " ")} · case ${s.case_number} · ${where}`;
  $("#capture-error").replaceChildren();
  retake();
  // One hand, one screen: the camera at the top, feedback and actions (sticky) below it.
  requestAnimationFrame(() => {
    const top = $("#camera").getBoundingClientRect().top + window.scrollY - $("#banners").offsetHeight - 6;
    window.scrollTo(0, Math.max(0, top));
  });
}

async function startCamera() {
  if (state.stream) {  // already on (e.g. a retake or a mode switch): just re-arm the shutter
    $("#shutter").disabled = false;
    if (state.mode === "finger") fingerPrompt();
    return;
  }
  const q = $("#quality");
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    setQuality("none", "No camera available here: upload a photo instead."); return;
  }
  try {
    state.stream = await navigator.mediaDevices.getUserMedia({
      video: { facingMode: { ideal: "environment" }, width: { ideal: 1280 }, height: { ideal: 960 } }, audio: false });
  } catch (e) {
    setQuality("none", "Camera not available (" + (e.name || "error") + "): upload a photo instead."); return;
  }
  if ($("#screen-capture").hidden) { stopCamera(); return; }
  const video = $("#video");
  video.srcObject = state.stream;
  await video.play().catch(() => {});
  if (state.mode === "finger") fingerPrompt(); else q.textContent = "Camera on: checking the framing…";
  $("#shutter").disabled = false;
  clearInterval(state.liveTimer);
  state.liveTimer = setInterval(liveCheck, LIVE_EVERY_MS);
  liveCheck();
}

function stopCamera() {
  clearInterval(state.liveTimer); state.liveTimer = null;
  if (state.stream) { state.stream.getTracks().forEach(t => t.stop()); state.stream = null; }
  const v = $("#video"); if (v) v.srcObject = null;
}

function frameBlob(video, width, quality = 0.85) {
  const scale = Math.min(1, width / video.videoWidth);
  const c = document.createElement("canvas");
  c.width = Math.round(video.videoWidth * scale); c.height = Math.round(video.videoHeight * scale);
  c.getContext("2d").drawImage(video, 0, 0, c.width, c.height);
  return new Promise(res => c.toBlob(res, "image/jpeg", quality));
}

async function checkQuality(blob) {
  const form = new FormData();
  form.append("image", blob, "frame.jpg");
  return api("/v1/web/quality", { method: "POST", form });
}

function setQuality(kind, text) {
  const q = $("#quality");
  q.className = `quality ${kind}`;
  q.textContent = text;
}

function describe(q) {
  if (!q.face_found) return ["poor", q.advice];
  if (q.acceptable_for_search && !q.issues.length) return ["good", `Quality ${Math.round(q.score)}/100 — ${q.advice}`];
  if (q.acceptable_for_search) return ["good", `Quality ${Math.round(q.score)}/100 — usable. ${q.advice}`];
  return ["poor", `Quality ${Math.round(q.score)}/100 — ${q.advice}`];
}

async function liveCheck() {
  const video = $("#video");
  if (state.mode !== "face" || state.liveBusy || state.still || !state.stream || video.readyState < 2 || !video.videoWidth) return;
  state.liveBusy = true;
  try {
    const q = await checkQuality(await frameBlob(video, FRAME_WIDTH, 0.8));
    if (!state.still && state.mode === "face") { const [k, t] = describe(q); setQuality(k, t); drawBox(q, video.videoWidth); }
  } catch (e) {
    if (!state.still && state.mode === "face") setQuality("none", `Quality check unavailable: ${e.message}`);
  } finally { state.liveBusy = false; }
}

function drawBox(q, sourceWidth) {
  const canvas = $("#boxes"), box = $("#camera").getBoundingClientRect();
  canvas.width = box.width; canvas.height = box.height;
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (!q || !q.face_box) return;
  const f = q.width / sourceWidth;                                  // frame → source pixels
  const vw = sourceWidth, vh = q.height / f;
  const s = Math.max(box.width / vw, box.height / vh);                // object-fit: cover
  const ox = (box.width - vw * s) / 2, oy = (box.height - vh * s) / 2;
  const [l, t, r, b] = q.face_box.map(v => v / f);
  ctx.lineWidth = 4;
  ctx.strokeStyle = q.acceptable_for_search ? "#22dd55" : "#ffb000";
  ctx.strokeRect(ox + l * s, oy + t * s, (r - l) * s, (b - t) * s);
}

async function takePhoto() {
  const video = $("#video");
  if (!video.videoWidth) return;
  const blob = await frameBlob(video, 1600, 0.92);
  if (state.mode === "finger") return addFinger(blob);
  stopCamera();
  await useStill(blob);
}

async function onUpload(ev) {
  const file = ev.target.files && ev.target.files[0];
  ev.target.value = "";
  if (!file) return;
  if (state.mode === "finger") return addFinger(file);
  stopCamera();
  await useStill(file);
}

async function useStill(blob) {
  state.still = blob; state.stillQuality = null;
  const img = $("#still");
  if (img.src) URL.revokeObjectURL(img.src);
  img.src = URL.createObjectURL(blob);
  show(img); show($("#video"), false); show($("#retake")); show($("#shutter"), false);
  $("#search").disabled = true;
  setQuality("none", "Checking the photo…");
  try {
    const small = await downscale(blob, 960);
    const q = await checkQuality(small);
    state.stillQuality = q;
    const [k, t] = describe(q);
    setQuality(k, (q.acceptable_for_search ? "Ready to search. " : "Retake advised. ") + t);
    drawStillBox(q);
    $("#search").disabled = !q.face_found;
  } catch (e) {
    setQuality("poor", `Could not check the photo: ${e.message}`);
    $("#search").disabled = false;
  }
}

async function downscale(blob, width) {
  const bmp = await createImageBitmap(blob);
  const scale = Math.min(1, width / bmp.width);
  const c = document.createElement("canvas");
  c.width = Math.round(bmp.width * scale); c.height = Math.round(bmp.height * scale);
  c.getContext("2d").drawImage(bmp, 0, 0, c.width, c.height);
  return new Promise(res => c.toBlob(res, "image/jpeg", 0.9));
}

function drawStillBox(q) {
  // The still is shown with object-fit: cover too: the same mapping as for the live frame.
  drawBox(q, q.width);
}

function retake() {
  state.still = null; state.stillQuality = null;
  const img = $("#still"); show(img, false);
  show($("#video")); show($("#retake"), false); show($("#shutter"));
  $("#shutter").disabled = true; $("#search").disabled = true;
  drawBox(null, 1);
  setQuality("none", "Starting camera…");
  if (state.mode === "finger") { fingerPrompt(); $("#search").disabled = !state.fingers.length; }
  startCamera();
}

// -- finger capture (contactless photos, or contact scans uploaded) ---------------------------------------
function setMode(mode) {
  state.mode = mode;
  const finger = mode === "finger";
  show($("#finger-controls"), finger); show($("#finger-list"), finger);
  show($("#finger-guide"), finger); show($("#face-guide"), !finger);
  $("#shutter").textContent = finger ? "Add finger photo" : "Take photo";
  $("#upload-label").textContent = finger ? "Upload finger image" : "Upload photo";
  state.fingers = []; renderFingers();
  retake();
}

function fingerPrompt() {
  setQuality("none", "Place one fingertip in the outline, pad towards the camera, 10–15 cm away. Each photo is checked.");
}

function addFinger(blob) {
  const item = { blob, position: Number($("#finger-position").value), capture: $("#finger-capture").value, quality: null,
    url: URL.createObjectURL(blob) };
  state.fingers.push(item);
  renderFingers();
  $("#search").disabled = false;
  setQuality("none", `Checking the ${FINGER_NAMES[item.position]}…`);
  const form = new FormData();
  form.append("image", blob, "finger.jpg");
  form.append("capture", item.capture);
  api("/v1/web/finger-quality", { method: "POST", form }).then(q => {
    item.quality = q; renderFingers();
    setQuality(q.fingers_found && q.prints.some(p => p.acceptable_for_search) ? "good" : "poor",
      `${FINGER_NAMES[item.position]}: ${q.fingers_found ? q.advice : "no print found — " + q.advice}`);
  }).catch(e => { item.quality = { error: e.message }; renderFingers(); setQuality("poor", e.message); });
}

function renderFingers() {
  const list = $("#finger-list");
  list.replaceChildren(...state.fingers.map((f, i) => {
    let status = "checking…";
    if (f.quality && f.quality.error) status = f.quality.error;
    else if (f.quality && !f.quality.fingers_found) status = "no print found: retake";
    else if (f.quality) status = f.quality.prints.map(p => `quality ${Math.round(p.score)}/100${p.acceptable_for_search ? "" : " (under floor)"}`).join("; ");
    return h("li.finger", { dataset: { position: f.position } }, h("img", { src: f.url, alt: FINGER_NAMES[f.position] }),
      h("span.what", h("strong", FINGER_NAMES[f.position]), ` · ${f.capture} · `, status),
      h("button.small", { type: "button", onclick: () => { state.fingers.splice(i, 1); renderFingers();
        $("#search").disabled = !state.fingers.length; } }, "Remove"));
  }));
}

// -- search and results ------------------------------------------------------------------------------
async function runSearch() {
  const s = shift();
  if (!s) return showPurpose();
  if (state.mode === "finger" ? !state.fingers.length : !state.still) return;
  const btn = $("#search");
  btn.disabled = true; btn.textContent = "Searching…";
  $("#capture-error").replaceChildren();
  const form = new FormData();
  if (state.mode === "finger") {
    state.fingers.forEach((f, i) => form.append("fingers", f.blob, `finger-${i}.jpg`));
    form.append("finger_positions", state.fingers.map(f => f.position).join(","));
    form.append("finger_capture", state.fingers[0].capture);
  } else form.append("image", state.still, "probe.jpg");
  if (s.federated) form.append("justification", s.justification);
  else form.append("galleries", s.galleries.join(","));
  if (s.investigative && !s.federated) form.append("investigative", "true");
  form.append("purpose", s.purpose);
  form.append("case_number", s.case_number);
  form.append("legal_basis", s.legal_basis);
  if (s.authorization_ref) form.append("authorization_ref", s.authorization_ref);
  try {
    state.result = await api(s.federated ? "/v1/identify/federated" : "/v1/identify", { method: "POST", form });
    state.fingers = []; renderFingers();
    renderResult(state.result);
    screen("results");
  } catch (e) {
    $("#capture-error").append(errorBox(e));
  } finally { btn.textContent = "Search"; btn.disabled = state.mode === "finger" ? !state.fingers.length : !state.still; }
}

function renderResult(r) {
  const root = $("#results");
  const [title, text] = OUTCOME_TEXT[r.outcome] || [r.outcome, ""];
  const op = r.operating_point;
  const parts = [];
  if (r.training) parts.push(h("div.banner.training", { role: "note" }, h("span", "Training search — not real")));
  if (r.demo && !$("#demo-banner")) parts.push(h("div.banner.demo", { role: "note" }, h("span", "DEMO galleries — pseudonymous people")));
  parts.push(h(`div.outcome.${r.outcome}`, { id: "outcome", dataset: { outcome: r.outcome } },
    h("h2", title), h("p", text),
    r.federated ? h("p", h("span.band.lead", "Federated query"), " every gallery and record system in reach was searched.") : null,
    r.investigative ? h("p.hint", "Investigative leads under the threshold were requested; they are labelled as such.") : null,
    h("dl.facts", {},
      h("dt", "Receipt"), h("dd", { id: "search-id" }, r.search_id),
      h("dt", "Case"), h("dd", `${r.case_number} (${r.purpose.replaceAll("_", " ")})`),
      h("dt", "Gallery size"), h("dd", `${r.gallery_size.toLocaleString("en")} ${r.gallery_size === 1 ? "person" : "people"}`),
      h("dt", "Threshold"), h("dd", `score ≥ ${fmtNum(op.threshold, 4)} (FMR ${fmtFmr(op.threshold_fmr)} per comparison)`),
      h("dt", "Target FPIR"), h("dd", `${fmtNum(op.fpir_target * 100, 2)}% of searches of someone not enrolled show any candidate`),
      h("dt", "Photo quality"), h("dd", `${Math.round(r.quality.score)}/100`),
      h("dt", "Calibration"), h("dd", `${r.model_id} · ${r.calibration.version}`))));
  if (r.reasons && r.reasons.length) {
    const training = r.reasons.filter(x => x.startsWith("Training"));
    const other = r.reasons.filter(x => !x.startsWith("Training"));
    if (other.length) parts.push(h("div.notice", {}, h("h3", "Why"), h("ul", {}, other.map(x => h("li", x)))));
    if (training.length) parts.push(h("div.notice", { id: "practice-feedback" }, h("h3", "Practice feedback"), h("ul", {}, training.map(x => h("li", x)))));
  }
  if (r.components && r.components.length) {
    parts.push(h("div.notice", {}, h("h3", "What was searched"), h("ul.components", { id: "components" }, r.components.map(c => h("li", {},
      h("strong", c.modality === "face" ? "Face" : `Finger: ${FINGER_NAMES[c.finger_position || 0]}${c.contactless ? " (photo)" : " (scan)"}`),
      ` · quality ${Math.round(c.quality_score)}/100 · `,
      h(c.searched ? "span.ok" : "span.bad", c.searched ? "searched" : "under the quality floor, not searched"),
      c.issues && c.issues.length ? h("div.hint", c.issues.join(", ").replaceAll("_", " ")) : null)))));
  }
  if (r.record_sources && r.record_sources.length) {
    parts.push(h("div.notice", {}, h("h3", "Record systems"),
      h("ul.sources", { id: "record-sources" }, r.record_sources.map(src => h("li", {},
        h("span", src.source), h(`span.${src.status === "ok" ? "ok" : (src.status === "not_linked" || src.status === "not_permitted") ? "" : "bad"}`,
          `${src.status.replaceAll("_", " ")}${src.latency_ms != null ? ` · ${Math.round(src.latency_ms)} ms` : ""}${src.status === "ok" ? ` · ${src.records} record(s)` : ""}`))))));
  }
  r.candidates.forEach(c => parts.push(candidateCard(r.search_id, c, r.gallery_size)));
  root.replaceChildren(...parts);
}

function candidateCard(searchId, c, gallerySize) {
  const img = h("img.thumb", { alt: `Enrolled photo of candidate ${c.rank}` });
  if (c.sample_id) imageUrl(`/v1/samples/${c.sample_id}/thumbnail`).then(u => { img.src = u; }).catch(() => { img.alt = "Photo not available"; });
  const lead = c.tier === "investigative_lead";
  const band = lead ? h("span.band.lead", "Investigative lead")
    : c.strength ? h(`span.band.${c.strength}`, `${STRENGTH_TEXT[c.strength] || c.strength} evidence`) : null;
  const reviewer = state.me.permissions.includes("review");
  const status = h("div.review-state.pending", { dataset: { role: "review-state" }, hidden: !reviewer },
    "Two-person confirmation: no decision yet (0 of 2).");
  const card = h("article.card.candidate", { dataset: { identity: c.identity_id } },
    h("div.head", {}, img, h("div", {},
      h("h3", `#${c.rank} · ${c.display_name || c.pseudonym}`),
      band,
      h("div.hint", `${c.gallery_name || ""}${c.display_name ? ` · ${c.pseudonym}` : ""}`))),
    h("dl.facts", {},
      h("dt", "FMR"), h("dd.fmr", fmtFmr(c.fmr)),
      h("dt", "Expected false candidates"), h("dd.efc",
        `${fmtNum(c.expected_false_candidates, 3)} at this gallery size (${(gallerySize || 0).toLocaleString("en")})` +
        (c.expected_false_candidates_ci95_high !== undefined ? `, up to ${fmtNum(c.expected_false_candidates_ci95_high, 3)} (95%)` : "")),
      h("dt", "Score"), h("dd", `${fmtNum(c.score, 4)} (raw; read the FMR)`)),
    c.comparisons && c.comparisons.length ? h("ul.components", {}, c.comparisons.map(x => h("li", {},
      `${x.modality === "face" ? "Face" : `Finger (${FINGER_NAMES[x.finger_position || 0]})`}: `,
      x.score === null ? "no enrolled template of this kind" : `score ${fmtNum(x.score, 3)}, FMR ${fmtFmr(x.fmr)}`))) : null,
    c.explanation ? h("p.hint", c.explanation) : null,
    recordsList(c.records || []),
    status,
    reviewButtons(searchId, c, status));
  return card;
}

function recordsList(records) {
  if (!records.length) return h("p.hint", "No linked records shown.");
  return h("div", {}, h("h3", `Linked records (${records.length})`), h("ul.records", {}, records.map(rec => h("li", {},
    h("strong", `${(rec.record_type || "record").replaceAll("_", " ")}${rec.demo ? " (DEMO)" : ""}`),
    ` · source ${rec.source} · updated ${ago(rec.updated_at)} · retrieved ${ago(rec.retrieved_at)}`,
    h("div", Object.entries(rec.fields || {}).map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`).join(" · ")),
    rec.withheld_fields && rec.withheld_fields.length ? h("div.hint", `${rec.withheld_fields.length} field(s) withheld for your role`) : null))));
}

function reviewButtons(searchId, c, statusEl) {
  if (!state.me.permissions.includes("review")) return h("p.hint", "Your role does not review candidates.");
  const evidence = evidenceForm(searchId, c, statusEl);
  const decide = (decision) => async (ev) => {
    const buttons = ev.target.closest(".review-actions");
    const decisionButtons = $$("button.confirm, button.reject", buttons);
    decisionButtons.forEach(b => { b.disabled = true; });
    try {
      const st = await api(`/v1/searches/${searchId}/reviews`, { method: "POST", json: { identity_id: c.identity_id, decision } });
      renderReview(statusEl, st);
      watchReview(searchId, c.identity_id, statusEl);
    } catch (e) {
      toast(e.message); decisionButtons.forEach(b => { b.disabled = false; });
      if (e.code === "conflict") refreshReview(searchId, c.identity_id, statusEl);
    }
  };
  return h("div", {},
    h("div.row.review-actions", {},
      h("button.confirm", { type: "button", onclick: decide("confirm") }, "Confirm"),
      h("button.reject", { type: "button", onclick: decide("reject") }, "Reject"),
      h("button", { type: "button", onclick: () => { evidence.hidden = !evidence.hidden; } }, "Evidence")),
    evidence);
}

function evidenceForm(searchId, c, statusEl) {
  const kind = h("select", { "aria-label": "Evidence kind" },
    ["identity_document", "citizenship_claim", "alibi", "biometric_mismatch", "other"].map(k => h("option", { value: k }, k.replaceAll("_", " "))));
  const text = h("textarea", { "aria-label": "Evidence description", placeholder: "What the document or statement shows", maxlength: 4000 });
  const blocks = h("input", { type: "checkbox" });
  const form = h("form.notice", { hidden: true, onsubmit: async (ev) => {
    ev.preventDefault();
    if (!text.value.trim()) { toast("Describe the evidence."); return; }
    try {
      const st = await api(`/v1/searches/${searchId}/evidence`, { method: "POST", json: {
        identity_id: c.identity_id, kind: kind.value, description: text.value.trim(), blocks_confirmation: blocks.checked } });
      renderReview(statusEl, st); form.hidden = true; toast("Evidence recorded.");
    } catch (e) { toast(e.message); }
  } },
  h("label", "Documentary evidence"), kind, text,
  h("label.check", {}, blocks, "Contradicts this candidate (blocks confirmation)"),
  h("p", h("button.primary", { type: "submit" }, "Record evidence")));
  return form;
}

async function refreshReview(searchId, identityId, statusEl) {
  try { renderReview(statusEl, await api(`/v1/searches/${searchId}/reviews/${identityId}`)); } catch (e) { /* keep */ }
}

/** While a decision awaits the second reviewer, keep its state fresh on screen. */
function watchReview(searchId, identityId, statusEl) {
  const timer = setInterval(async () => {
    if (!statusEl.isConnected || statusEl.dataset.state !== "pending" || !apiKey()) { clearInterval(timer); return; }
    await refreshReview(searchId, identityId, statusEl);
  }, 3000);
}

function renderReview(el, st) {
  const words = {
    pending: `Pending: ${st.decisions_recorded} of ${st.required_confirmations} independent decisions recorded — a second reviewer must decide.`,
    confirmed: `Confirmed by ${st.required_confirmations} reviewers (two-person rule met).`,
    rejected: "Rejected by a reviewer: do not act on this candidate.",
    disputed: "Disputed: reviewers disagree — do not act; refer to a supervisor.",
    blocked: "Blocked by documentary evidence: do not act on this candidate.",
  };
  el.className = `review-state ${st.state}`;
  el.dataset.state = st.state;
  el.replaceChildren(...[h("div", `Two-person confirmation — ${words[st.state] || st.state}`),
    st.my_decision ? h("div.hint", `Your decision: ${st.my_decision}.`) : null,
    st.evidence && st.evidence.length ? h("div.hint", `${st.evidence.length} evidence item(s) recorded.`) : null]
    .filter(Boolean));
}

// -- review queue (second reviewer) ---------------------------------------------------------------------
async function showQueue() {
  screen("queue");
  const root = $("#queue");
  root.replaceChildren(h("p.hint", "Loading…"));
  let items;
  try { items = await api("/v1/web/review-queue"); } catch (e) { root.replaceChildren(errorBox(e)); return; }
  if (!items.length) { root.replaceChildren(h("p.notice", "Nothing awaits your decision.")); return; }
  root.replaceChildren(...items.map(it => {
    const c = it.candidate;
    const card = candidateCard(it.search_id, { ...c, explanation: null, expected_false_candidates_ci95_high: undefined }, it.gallery_size);
    card.prepend(h("p.hint", `Search ${it.search_id.slice(0, 8)} · case ${it.case_number} · ${fmtDate(it.created_at)} · ${it.decisions_recorded} decision(s) so far`));
    const st = $(".review-state", card);
    st.textContent = `Two-person confirmation: ${it.decisions_recorded} of 2 decisions recorded — yours is needed.`;
    return card;
  }));
}

start();
