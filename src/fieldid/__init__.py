"""FieldID: accountable field biometric identification.

The public Python API (everything else is internal and may change)::

    from fieldid import FieldID, Settings, SearchContext, ImageInput, EnrollmentInfo, FingerInput
    service = FieldID.open(Settings())
    result = service.identify(actor, ["watchlist"], photo_bytes, SearchContext("missing_person", "C-1"))

The front holds one service per area (``service.search``, ``service.enrolment``,
``service.galleries``, ``service.review`` …); ``service.identify`` is ``service.search.identify``.

``create_app(settings)`` builds the HTTP API. Names are imported on first use, so
``import fieldid`` stays cheap and loads no model.
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("fieldid")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0+unknown"

_EXPORTS = {
    "FieldID": "fieldid.service",
    "SearchContext": "fieldid.inputs",
    "EnrollmentInfo": "fieldid.inputs",
    "ImageInput": "fieldid.inputs",
    "FingerInput": "fieldid.inputs",
    "Settings": "fieldid.config",
    "create_app": "fieldid.api",
    "FieldIDError": "fieldid.errors",
    "Calibration": "fieldid.core.calibration",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'fieldid' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
