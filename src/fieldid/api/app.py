"""The FastAPI application: ``create_app(settings)``; nothing heavy happens at import."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fieldid.config import Settings
from fieldid.errors import FieldIDError
from fieldid.service import FieldID

log = logging.getLogger("fieldid.api")


def error_response(status: int, code: str, message: str, details: dict | None = None) -> JSONResponse:
    body: dict[str, object] = {"code": code, "message": message}
    if details:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=status)


class BodyLimit:
    """Refuse request bodies over the limit (declared or streamed) with 413 request_too_large."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await error_response(413, "request_too_large", f"Request body over {self.limit:,} bytes.")(
                scope, receive, send)
            return
        received = 0
        too_large = False
        started = False

        async def limited() -> Message:
            nonlocal received, too_large
            if too_large:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    # Tell the app the client went away; we answer 413 ourselves below.
                    too_large = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if too_large:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited, guarded_send)
        except Exception:
            if not too_large:
                raise
        if too_large and not started:
            await error_response(413, "request_too_large", f"Request body over {self.limit:,} bytes.")(
                scope, receive, send)


class SecurityHeaders:
    """Headers on every API response: never cached (results and records concern people), never
    framed or sniffed, no referrer. Static web assets add their own CSP (fieldid.web)."""

    HEADERS = (
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
        (b"cross-origin-opener-policy", b"same-origin"),
    )

    def __init__(self, app: ASGIApp, hsts: bool) -> None:
        self.app, self.hsts = app, hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        api = scope.get("path", "").startswith("/v1/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in self.HEADERS if k not in present]
                if api:
                    headers.append((b"cache-control", b"no-store"))
                if self.hsts:
                    headers.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


async def _retention_loop(service: FieldID, settings: Settings) -> None:
    from fieldid.governance.admin import SYSTEM

    while True:
        try:
            report = await asyncio.to_thread(service.retention.run_retention, SYSTEM)
            log.info("retention: %s", report.as_dict())
        except Exception:  # noqa: BLE001 - the job must survive a bad run and try again
            log.exception("retention run failed")
        await asyncio.sleep(settings.retention_interval_minutes * 60)


def _log_failure(future: asyncio.Future) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("extraction workers failed to start: %s", future.exception())


def create_app(settings: Settings, service: FieldID | None = None) -> FastAPI:
    """Build the app. Pass ``service`` to share one (tests); otherwise it opens on start-up."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = service is None
        app.state.service = service or FieldID.open(settings)
        # The scheduled retention job runs only in a server that owns its service (not in tests
        # that share one); `fieldid retention run` does the same by hand.
        job = asyncio.create_task(_retention_loop(app.state.service, settings)) if owned else None
        pool = app.state.service.start_extraction_workers(settings.resolved_extraction_workers) if owned else None
        if pool is not None:  # load the workers' models now, not on the first requests
            warming = asyncio.get_running_loop().run_in_executor(None, pool.warm_up)
            warming.add_done_callback(_log_failure)
        try:
            yield
        finally:
            if job is not None:
                job.cancel()
            if owned:
                app.state.service.close()

    app = FastAPI(
        title="FieldID",
        version="0.1.0",
        summary="Accountable field biometric identification: calibrated candidates, never a bare match.",
        lifespan=lifespan,
    )
    if service is not None:
        app.state.service = service

    @app.exception_handler(FieldIDError)
    async def fieldid_error(request: Request, exc: FieldIDError) -> JSONResponse:
        return error_response(exc.http_status, exc.code, exc.message, exc.details or None)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {"loc": [str(x) for x in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
            for e in exc.errors()
        ]
        return error_response(422, "invalid_request", "The request is not valid.", {"problems": problems[:20]})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large", 400: "invalid_request"}
        return error_response(exc.status_code, codes.get(exc.status_code, "http_error"), str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", "Internal error; it has been logged.")

    from fieldid import web
    from fieldid.api.routes import galleries, governance, records, search, system

    app.include_router(system.router)
    app.include_router(galleries.router)
    app.include_router(search.router)
    app.include_router(governance.router)
    app.include_router(records.router)
    web.install(app)
    app.add_middleware(BodyLimit, limit=settings.max_request_bytes)
    if settings.cors_origins:  # off by default: the web app is served from the API's own origin
        from starlette.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_credentials=False,
                           allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                           allow_headers=["Authorization", "Content-Type"], max_age=600)
    app.add_middleware(SecurityHeaders, hsts=settings.environment == "production")
    return app
