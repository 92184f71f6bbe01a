"""One exception tree for FieldID, each class with a stable error ``code``.

Clients (the HTTP API, the CLI, the web app) key on ``code``; the message is for humans and
may change. Codes never change once released. The HTTP status lives beside the code so the
API maps errors in one place.

::

    FieldIDError                       internal_error        500
    ├── InputError                     invalid_input         400
    │   ├── ImageError                 image_error           422
    │   │   ├── EmptyImage             image_empty           400
    │   │   ├── ImageTooLarge          image_too_large       413
    │   │   ├── ImageTooManyPixels     image_too_many_pixels 413
    │   │   ├── UnsupportedImageFormat image_unsupported_format 415
    │   │   └── CorruptImage           image_corrupt         422
    │   ├── NoFaceFound                no_face               422
    │   ├── NoFingerprintFound         no_fingerprint        422
    │   ├── TemplateError              template_corrupt      422
    │   ├── CalibrationFileError       calibration_invalid   422
    │   ├── InvalidRequest             invalid_request       422
    │   └── ModalityMismatch           modality_mismatch     422
    ├── NotFound                       not_found             404
    │   ├── GalleryNotFound            gallery_not_found     404
    │   ├── IdentityNotFound           identity_not_found    404
    │   ├── SearchNotFound             search_not_found      404
    │   └── ...                        (one per resource)
    ├── Conflict                       conflict              409
    │   └── GalleryExists              gallery_exists        409
    ├── Unauthenticated                unauthenticated       401
    ├── PermissionDenied               forbidden             403
    │   └── PurposeRequired ...        (governance refusals, see governance/)
    ├── RateLimited                    rate_limited          429
    ├── ModelUnavailable               model_unavailable     503
    └── StorageError                   storage_error         500

A resource of another agency is reported exactly as a missing one (``*_not_found``): the
error never reveals that it exists.
"""

from __future__ import annotations

from typing import Any, ClassVar


class FieldIDError(Exception):
    """Base of every error FieldID raises on purpose."""

    code: ClassVar[str] = "internal_error"
    http_status: ClassVar[int] = 500

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def __reduce__(self):  # type: ignore[no-untyped-def]
        # Pickled with its details (errors cross process boundaries from extraction workers).
        return (_rebuild_error, (type(self), self.message, self.details))

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


def _rebuild_error(cls: type[FieldIDError], message: str, details: dict[str, Any]) -> FieldIDError:
    err = cls.__new__(cls)
    FieldIDError.__init__(err, message, **details)
    return err


class InputError(FieldIDError):
    code = "invalid_input"
    http_status = 400


class ImageError(InputError):
    code = "image_error"
    http_status = 422


class EmptyImage(ImageError):
    code = "image_empty"
    http_status = 400


class ImageTooLarge(ImageError):
    code = "image_too_large"
    http_status = 413


class ImageTooManyPixels(ImageError):
    code = "image_too_many_pixels"
    http_status = 413


class UnsupportedImageFormat(ImageError):
    code = "image_unsupported_format"
    http_status = 415


class CorruptImage(ImageError):
    code = "image_corrupt"
    http_status = 422


class NoFaceFound(InputError):
    code = "no_face"
    http_status = 422


class NoFingerprintFound(InputError):
    code = "no_fingerprint"
    http_status = 422


class TemplateError(InputError):
    code = "template_corrupt"
    http_status = 422


class CalibrationFileError(InputError):
    code = "calibration_invalid"
    http_status = 422


class InvalidRequest(InputError):
    code = "invalid_request"
    http_status = 422


class ModalityMismatch(InputError):
    code = "modality_mismatch"
    http_status = 422


class NotFound(FieldIDError):
    code = "not_found"
    http_status = 404


class GalleryNotFound(NotFound):
    code = "gallery_not_found"


class IdentityNotFound(NotFound):
    code = "identity_not_found"


class SampleNotFound(NotFound):
    code = "sample_not_found"


class SearchNotFound(NotFound):
    code = "search_not_found"


class AgencyNotFound(NotFound):
    code = "agency_not_found"


class UserNotFound(NotFound):
    code = "user_not_found"


class ChallengeNotFound(NotFound):
    code = "challenge_not_found"


class SourceNotFound(NotFound):
    code = "source_not_found"


class Conflict(FieldIDError):
    code = "conflict"
    http_status = 409


class GalleryExists(Conflict):
    code = "gallery_exists"


class Unauthenticated(FieldIDError):
    code = "unauthenticated"
    http_status = 401


class PermissionDenied(FieldIDError):
    code = "forbidden"
    http_status = 403


class RateLimited(FieldIDError):
    code = "rate_limited"
    http_status = 429


class ModelUnavailable(FieldIDError):
    code = "model_unavailable"
    http_status = 503


class StorageError(FieldIDError):
    code = "storage_error"
    http_status = 500


class ExtractionUnavailable(FieldIDError):
    """A face extraction worker process died (out of memory, crash in native code); the pool
    is restarted and the request can be retried."""

    code = "extraction_unavailable"
    http_status = 503


def all_error_classes() -> list[type[FieldIDError]]:
    """Every error class, for the test that codes are unique and documented."""
    seen: list[type[FieldIDError]] = []
    stack: list[type[FieldIDError]] = [FieldIDError]
    while stack:
        cls = stack.pop()
        seen.append(cls)
        stack.extend(cls.__subclasses__())
    return seen


class NoUsableSample(InputError):
    """Enrolment: none of the images gave a face of enrolment quality (details per image)."""

    code = "no_usable_sample"
    http_status = 422


class PossibleDuplicate(Conflict):
    """Enrolment refused on request: the person may already be enrolled (details list them)."""

    code = "possible_duplicate"


class PurposeRequired(InvalidRequest):
    """A search without purpose code, case number or legal basis."""

    code = "purpose_required"


class PurposeInvalid(InvalidRequest):
    code = "purpose_invalid"


class AuthorizationRequired(PermissionDenied):
    """The agency requires an authorisation reference (e.g. a warrant) that is missing or expired."""

    code = "authorization_required"


class TrainingModeViolation(PermissionDenied):
    """A user in training mode tried to reach operational data."""

    code = "training_mode"
