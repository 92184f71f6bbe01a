"""The web app (field PWA and oversight console), served by the FieldID server.

``/field/`` is the phone app (a PWA: manifest and service worker), ``/console/`` the oversight
console, ``/static/`` their shared modules and styles. Both talk only to the HTTP API; the few
JSON routes they need beyond it live in :mod:`fieldid.web.api` under ``/v1/web``. Every asset is
served from this package: no CDN, no build step.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

STATIC = Path(__file__).parent / "static"

#: Pages load only this server's own scripts, styles and images; camera frames stay in blob: URLs.
CSP = (
    "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob: mediastream:; "
    "connect-src 'self'; style-src 'self'; script-src 'self'; worker-src 'self'; "
    "manifest-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


class SecureStatic(StaticFiles):
    """Static files with security headers; HTML and the service worker are always revalidated."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [
                    (b"content-security-policy", CSP.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"permissions-policy", b"camera=(self)"),
                ]
                if path.endswith((".html", "/", "sw.js", ".webmanifest")):
                    headers.append((b"cache-control", b"no-cache"))
                message["headers"] = headers
            await send(message)

        await super().__call__(scope, receive, with_headers)


def install(app: FastAPI) -> None:
    """Register the web app's routes and static files on ``app``."""
    from fieldid.web.api import router

    app.include_router(router)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/field/")

    app.mount("/static", SecureStatic(directory=STATIC / "common"), name="web-static")
    app.mount("/field", SecureStatic(directory=STATIC / "field", html=True), name="web-field")
    app.mount("/console", SecureStatic(directory=STATIC / "console", html=True), name="web-console")
