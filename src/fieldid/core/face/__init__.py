"""Face pipeline, pure: detect → choose → 5 landmarks → align → quality → embed."""

from fieldid.core.face.embed import AlignmentSpec, Embedder, l2_normalize
from fieldid.core.face.pipeline import FaceModels, extract_face

__all__ = ["AlignmentSpec", "Embedder", "FaceModels", "extract_face", "l2_normalize"]
