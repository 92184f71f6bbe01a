"""Settings, read once at the entry point (CLI or server) and passed down.

Every field carries a description (a test checks it); environment variables use the prefix
``FIELDID_`` (e.g. ``FIELDID_DATABASE_URL``). There is no module-level instance.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from fieldid.imaging import ImageLimits


def default_shared_data() -> Path:
    """The research data sets: $FIELDID_SHARED_DATA, else ``../shared/data`` beside the working
    directory or beside the source checkout, else /work/shared/data."""
    checkout = Path(__file__).resolve().parents[2]
    candidates = [os.environ.get("FIELDID_SHARED_DATA"), Path.cwd().parent / "shared" / "data",
                  checkout.parent / "shared" / "data", "/work/shared/data"]
    for c in candidates:
        if c and Path(c).is_dir():
            return Path(c)
    return Path("../shared/data")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FIELDID_", env_file=None, extra="ignore")

    environment: Literal["development", "test", "production"] = Field(
        "development",
        description="Deployment kind. 'production' refuses default secrets and demo data.",
    )
    data_dir: Path = Field(
        Path("var"),
        description="Directory for the embedded database, the FAISS index files and exports.",
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the store. Default: SQLite file 'fieldid.db' in data_dir. "
        "PostgreSQL: postgresql+psycopg://user@host/db.",
    )
    index_backend: Literal["faiss", "milvus", "memory"] = Field(
        "faiss",
        description="Vector index: 'faiss' (embedded, files beside the database), 'milvus' "
        "(Milvus Lite file or cluster URI in milvus_uri) or 'memory' (tests).",
    )
    milvus_uri: str | None = Field(
        None,
        description="Milvus URI: a local path ending in .db for Milvus Lite, or http://host:19530.",
    )
    index_save_every: int = Field(
        1000,
        ge=1,
        description="FAISS: write a gallery's index file after this many changes (small galleries "
        "are written after every change). The database is the source of truth; the index is "
        "reconciled from it at start-up.",
    )
    index_kind: Literal["auto", "flat", "hnsw", "ivfpq"] = Field(
        "auto",
        description="FAISS structure per gallery space: 'flat' (exact scan), 'hnsw' (graph), 'ivfpq' "
        "(compressed, for many millions) or 'auto' (chosen by the space's size with "
        "index_auto_hnsw_from and index_auto_ivfpq_from). Approximate kinds re-score their "
        "candidates exactly, so scores are always exact.",
    )
    index_auto_hnsw_from: int = Field(
        200_000,
        ge=1,
        description="index_kind 'auto': a space with at least this many vectors gets an HNSW graph "
        "(an exact scan of 200k 128-d vectors takes ~10-20 ms per query here).",
    )
    index_auto_ivfpq_from: int = Field(
        5_000_000,
        ge=1,
        description="index_kind 'auto': a space with at least this many vectors gets IVF-PQ "
        "(HNSW needs ~1.3 kB per 128-d vector in RAM; IVF-PQ ~72 B plus the float32 copy).",
    )
    index_ann_min_vectors: int = Field(
        10_000,
        ge=1,
        description="index_kind 'hnsw'/'ivfpq': spaces smaller than this are scanned exactly "
        "(faster there, and nothing to train).",
    )
    index_hnsw_m: int = Field(
        32, ge=4, le=128, description="HNSW: neighbours per node (more = better recall, more memory)."
    )
    index_hnsw_ef_construction: int = Field(
        200, ge=8, description="HNSW: candidate list while building (more = better graph, slower build; "
        "200 reached recall@10 0.99 at 1M vectors where 80 stayed at 0.97)."
    )
    index_hnsw_ef_search: int = Field(
        1024,
        ge=8,
        description="HNSW: candidate list while searching (more = better recall, slower); never "
        "below the number of candidates asked for.",
    )
    index_ivf_nlist: int = Field(
        0,
        ge=0,
        description="IVF-PQ: number of inverted lists; 0 = about sqrt(n), a power of two.",
    )
    index_ivf_nprobe: int = Field(
        128, ge=1, description="IVF-PQ: lists visited per query (more = better recall, slower)."
    )
    index_pq_m: int = Field(
        64,
        ge=1,
        description="IVF-PQ: bytes per compressed vector (sub-quantisers of 8 bits); the largest "
        "divisor of the dimension not above it is used.",
    )
    index_rescore_factor: int = Field(
        30,
        ge=1,
        description="Approximate kinds: re-score k x this many candidates exactly against the "
        "stored float32 vectors before keeping the best k.",
    )
    index_tombstone_rebuild_fraction: float = Field(
        0.1,
        gt=0,
        le=1,
        description="Rebuild a space's approximate index in the background when this share of its "
        "entries are deleted vectors (tombstones, filtered inside the search meanwhile).",
    )
    index_background_build: bool = Field(
        True,
        description="Build and rebuild approximate indexes in a background thread while searches "
        "use the previous index (off: build inline, for tests and benchmarks).",
    )
    milvus_index_type: Literal["HNSW", "HNSW_SQ", "IVF_FLAT", "IVF_SQ8", "BRUTE_FORCE"] = Field(
        "HNSW",
        description="Milvus index on the vector field (Milvus Lite accepts these). Quantised types "
        "(HNSW_SQ, IVF_SQ8) are re-scored exactly against the stored float32 vectors.",
    )
    milvus_collection_prefix: str = Field(
        "fieldid",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="Milvus: collection names start with this (one collection per vector dimension).",
    )
    milvus_partitions: int = Field(
        64,
        ge=1,
        le=1024,
        description="Milvus: physical partitions that the space (gallery|model) partition key is "
        "hashed into; a search touches only the partitions of the spaces it names.",
    )
    milvus_consistency: Literal["Strong", "Bounded", "Session", "Eventually"] = Field(
        "Strong",
        description="Milvus consistency level of searches: 'Strong' sees every committed enrolment "
        "and deletion (FieldID's default: a deleted person is never shown).",
    )
    face_detector: Literal["hog", "cnn", "hog+cnn"] = Field(
        "hog+cnn",
        description="Face detector: dlib HOG (fast), dlib CNN (MMOD; finds turned/small faces, "
        "slower) or HOG with CNN as fallback when HOG finds nothing.",
    )
    face_flip_average: bool = Field(
        True,
        description="Embed each aligned face and its mirror image and average the two (test-time "
        "augmentation: 98.50 % → 98.93 % on the dev LFW pairs for ~1.5× the embedding time). Part of the "
        "model id ('…-flip@…'): changing it needs re-enrolment and its own calibration.",
    )
    face_views: Literal["lm5p25+lm5p35", "lm5+lm68", "lm5"] = Field(
        "lm5p25+lm5p35",
        description="dlib chips cut from each face, embedded and averaged (with flip averaging, two "
        "ResNet passes per chip). 'lm5': one chip from dlib's 5 landmarks with 25 % padding (98.93 % "
        "on the dev LFW pairs); 'lm5p25+lm5p35': that chip and a wider one with 35 % padding "
        "(99.37 %); 'lm5+lm68': the first chip and one from the 68 landmarks (99.27 %). Part of "
        "the model id ('…-lm5p25-lm5p35@…'): changing it needs re-enrolment and its own calibration.",
    )
    extraction_workers: int = Field(
        -1,
        ge=-1,
        le=64,
        description="Processes in which a server (`fieldid serve`, `fieldid demo`) decodes images and "
        "extracts faces, so that it uses several cores (dlib holds Python's GIL: threads cannot). "
        "0 = in the request's thread; -1 = one per CPU core, at most 8 (0 when environment is "
        "'test'). Other commands always extract in their own thread.",
    )
    face_embedder: Literal["dlib", "onnx"] = Field(
        "dlib",
        description="Face embedding model: the dlib ResNet shipped in the model package, or an "
        "ArcFace-style ONNX file given by onnx_model_path.",
    )
    onnx_model_path: Path | None = Field(
        None, description="Path of the operator-supplied ArcFace-style ONNX face model."
    )
    onnx_input_mean: float = Field(127.5, description="ONNX face model input: pixel mean subtracted.")
    onnx_input_std: float = Field(127.5, description="ONNX face model input: divisor after the mean.")
    onnx_input_bgr: bool = Field(False, description="ONNX face model input: channels in BGR order.")
    enroll_jitters: int = Field(
        0,
        ge=0,
        le=100,
        description="dlib jitters when embedding enrolment images (steadier templates, slower); "
        "probes always use 0.",
    )
    max_image_bytes: int = Field(25 * 1024 * 1024, gt=0, description="Largest accepted image, bytes.")
    max_image_pixels: int = Field(60_000_000, gt=0, description="Largest accepted image, pixels.")
    max_image_side: int = Field(16_384, gt=0, description="Largest accepted image side, pixels.")
    default_fpir: float = Field(
        0.01,
        gt=0,
        lt=1,
        description="Target false-positive identification rate of a new gallery: the chance that "
        "a search of someone not enrolled shows any candidate above the threshold.",
    )
    duplicate_check: bool = Field(
        True, description="Search the gallery for possible duplicates before enrolling an identity."
    )
    calibration_dir: Path | None = Field(
        None,
        description="Directory with calibration files (fieldid calibrate) that override the shipped "
        "ones, matched by model id.",
    )
    demo: bool = Field(
        False, description="Demo mode: the server shows a DEMO banner and seeds a pseudonymous demo gallery."
    )
    demo_identities: int = Field(
        300, ge=1, description="How many dev-set identities `fieldid demo` enrols (with pseudonyms)."
    )
    demo_data_dir: Path = Field(
        default_factory=lambda: default_shared_data() / "faces" / "lfw-deepfunneled-dev",
        description="Face data set the demo gallery is enrolled from (manifest.csv with path,label).",
    )
    purpose_codes: list[str] = Field(
        default_factory=lambda: [
            "criminal_investigation",
            "missing_person",
            "victim_identification",
            "immigration_status",
            "identity_check_with_consent",
        ],
        description="Purpose codes a search may carry; anything else is refused.",
    )
    verify_target_fmr: float = Field(
        1e-4,
        gt=0,
        lt=1,
        description="1:1 verification: FMR at which a score is said to support the same person.",
    )
    retention_probe_no_candidate_hours: float = Field(
        24.0, gt=0, description="Keep the probe image of a search with no candidate this many hours."
    )
    retention_probe_candidates_days: float = Field(
        30.0, gt=0, description="Keep the probe image of a search that showed candidates this many days."
    )
    retention_probe_confirmed_days: float = Field(
        730.0,
        gt=0,
        description="Keep the probe image of a confirmed identification this many days (the case's need).",
    )
    retention_audit_days: float = Field(
        2555.0,
        ge=183,
        description="Keep audit events this many days (never less than six months).",
    )
    jwt_issuer: str | None = Field(None, description="OIDC issuer whose bearer tokens are accepted (iss).")
    jwt_audience: str | None = Field(None, description="Audience the bearer tokens must name (aud).")
    jwt_keys_file: Path | None = Field(
        None, description="Verification keys of the issuer: a PEM public key or a JWKS JSON file."
    )
    jwt_algorithms: list[str] = Field(
        default_factory=lambda: ["RS256", "ES256"], description="Accepted JWT signature algorithms."
    )
    jwt_agency_claim: str = Field("fieldid_agency", description="JWT claim naming the user's agency id.")
    jwt_role_claim: str = Field("fieldid_role", description="JWT claim naming the user's FieldID role.")
    rate_limit_per_minute: int = Field(30, ge=1, description="Searches one user may run per minute.")
    rate_alert_per_hour: int = Field(
        200, ge=1, description="Searches per user and hour above which an unusual-volume alert is audited."
    )
    retention_interval_minutes: float = Field(
        60.0, gt=0, description="How often the server's scheduled retention job runs."
    )
    federated_justification_min_chars: int = Field(
        30, ge=1, description="Minimum length of the written justification of a federated query."
    )
    finger_exhaustive_max: int = Field(
        5000,
        ge=0,
        description="Galleries holding at most this many fingerprints are searched by exact minutiae "
        "matching of every print (the accurate baseline); larger ones through the search-key shortlist "
        "of the vector index, re-ranked by exact matching.",
    )
    records_config: Path | None = Field(
        None,
        description="YAML file of the connected record sources (docs/records.example.yaml). Without "
        "one, demo mode uses the built-in synthetic demo sources and otherwise no records are shown.",
    )
    records_timeout_s: float = Field(
        2.0,
        gt=0,
        le=60,
        description="Deadline of one records lookup across all sources: sources that have not "
        "answered by then are reported as timed out and the others' records are shown.",
    )
    records_circuit_failures: int = Field(
        3,
        ge=1,
        description="Consecutive failures (errors or timeouts) after which a record source is "
        "skipped (circuit open) until the cool-down has passed.",
    )
    records_circuit_cooldown_s: float = Field(
        30.0,
        ge=0,
        description="Seconds a failing record source is skipped before one trial call is let through.",
    )
    encrypt_at_rest: bool = Field(
        True,
        description="Encrypt enrolment thumbnails, probe images and templates in the database, and "
        "the FAISS index files, with AES-256-GCM (keys: data_keys / data_keys_file; rotate with "
        "`fieldid keys rotate`).",
    )
    data_keys: str | None = Field(
        None,
        description="The data keyring as JSON (as written by `fieldid keys init`), e.g. from a secret "
        "store; takes precedence over data_keys_file. Never logged.",
        repr=False,
    )
    data_keys_file: Path | None = Field(
        None,
        description="File of the data keyring (mode 0600). Default: <data_dir>/keys/data-keys.json, "
        "created on first start in development and test; production refuses to start without one.",
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description="Other web origins allowed to call the API from a browser (CORS). Empty (the "
        "default): none; the web app is served from the API's own origin. Never '*' in production.",
    )
    host: str = Field("127.0.0.1", description="Address the server listens on.")
    port: int = Field(8000, ge=1, le=65535, description="Port the server listens on.")
    max_request_bytes: int = Field(
        60 * 1024 * 1024, gt=0, description="Largest accepted HTTP request body, bytes."
    )

    @model_validator(mode="after")
    def _check_models(self) -> Settings:
        if self.face_embedder == "onnx" and self.onnx_model_path is None:
            raise ValueError("face_embedder='onnx' needs onnx_model_path")
        if self.environment == "production" and "*" in self.cors_origins:
            raise ValueError("cors_origins='*' is refused in production: name the origins")
        if self.environment == "production" and self.demo:
            raise ValueError("demo mode is refused in production")
        return self

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'fieldid.db').resolve()}"

    @property
    def resolved_data_keys_file(self) -> Path:
        return self.data_keys_file or self.data_dir / "keys" / "data-keys.json"

    @property
    def resolved_extraction_workers(self) -> int:
        if self.extraction_workers >= 0:
            return self.extraction_workers
        return 0 if self.environment == "test" else min(8, os.cpu_count() or 1)

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"

    @property
    def image_limits(self) -> ImageLimits:
        return ImageLimits(
            max_bytes=self.max_image_bytes, max_pixels=self.max_image_pixels, max_side=self.max_image_side
        )
