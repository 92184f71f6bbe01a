// Service worker of the field app: caches the app shell so it opens with a poor signal.
// API responses (/v1/...) are never cached: they carry biometric results and must not persist.
const CACHE = "fieldid-shell-v1";
const SHELL = ["/field/", "/field/app.js", "/field/manifest.webmanifest", "/field/icon.svg",
  "/static/app.css", "/static/api.js", "/static/ui.js"];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys().then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== location.origin || url.pathname.startsWith("/v1/")) return;
  // Network first (fresh code after an update), the cached shell when offline.
  event.respondWith(fetch(event.request).then((resp) => {
    if (resp.ok && SHELL.includes(url.pathname)) {
      const copy = resp.clone();
      caches.open(CACHE).then((c) => c.put(event.request, copy));
    }
    return resp;
  }).catch(() => caches.match(event.request)));
});
