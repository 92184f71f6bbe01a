// The one way the web app talks to the server: the HTTP API, with the signed-in API key.
// One sign-in per app (the field app and the console are separate sessions in the same tab).
const KEY = `fieldid.apiKey.${location.pathname.split("/")[1] || "app"}`;

export function apiKey() { return sessionStorage.getItem(KEY); }
export function setApiKey(key) { if (key) sessionStorage.setItem(KEY, key); else sessionStorage.removeItem(KEY); }

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message); this.status = status; this.code = code; this.details = details || {};
  }
}

/** fetch() an API path. `json` sends a JSON body, `form` a FormData; `key` overrides the signed-in key. */
export async function api(path, { method = "GET", json, form, key, query } = {}) {
  const headers = {};
  const token = key === undefined ? apiKey() : key;
  if (token) headers.Authorization = `Bearer ${token}`;
  let body;
  if (json !== undefined) { headers["Content-Type"] = "application/json"; body = JSON.stringify(json); }
  else if (form) body = form;
  let url = path;
  if (query) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== "") q.set(k, v);
    const s = q.toString(); if (s) url += "?" + s;
  }
  let resp;
  try { resp = await fetch(url, { method, headers, body, cache: "no-store" }); }
  catch (e) { throw new ApiError(0, "network", "No connection to the FieldID server."); }
  const type = resp.headers.get("content-type") || "";
  if (!resp.ok) {
    let err = { code: "http_" + resp.status, message: resp.statusText };
    if (type.includes("json")) { try { err = (await resp.json()).error || err; } catch (e) { /* keep */ } }
    throw new ApiError(resp.status, err.code, err.message, err.details);
  }
  if (resp.status === 204) return null;
  if (type.includes("json")) return resp.json();
  return resp.blob();
}

/** An authenticated image (thumbnails need the Authorization header) as a blob: URL. */
export async function imageUrl(path) {
  const blob = await api(path);
  return URL.createObjectURL(blob);
}
