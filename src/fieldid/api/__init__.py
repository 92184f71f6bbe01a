"""HTTP API: ``create_app(settings)``."""

from fieldid.api.app import create_app

__all__ = ["create_app"]
