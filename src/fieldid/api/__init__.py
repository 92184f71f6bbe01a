"""HTTP API: ``create_app(settings)``. The app (and with it the service) is imported on first
use, so that reading :mod:`fieldid.api.schemas` (the CLI prints the same bodies) stays cheap."""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from fieldid.api.app import create_app

        return create_app
    raise AttributeError(f"module 'fieldid.api' has no attribute {name!r}")
