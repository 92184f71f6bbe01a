"""Build the vector index chosen in the settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fieldid.config import Settings
from fieldid.storage.base import VectorIndex
from fieldid.storage.sql import SqlStore

if TYPE_CHECKING:
    from fieldid.storage.crypto import Keyring


def data_keyring(settings: Settings) -> Keyring | None:
    """The data keyring when encryption at rest is on (created in development and test;
    production refuses to start without one)."""
    from fieldid.storage.crypto import load_keyring

    if not settings.encrypt_at_rest:
        return None
    return load_keyring(settings.resolved_data_keys_file, env=settings.data_keys,
                        create=settings.environment != "production")


def open_store(settings: Settings, *, migrate: bool = True) -> SqlStore:
    """The relational store of the settings, with its data keyring when encryption at rest is on."""
    return SqlStore(settings.resolved_database_url, migrate=migrate, keyring=data_keyring(settings))


def make_index(settings: Settings) -> VectorIndex:
    """The vector index of the settings; with encryption at rest, the FAISS files (vectors and
    graphs) are encrypted with the data keyring too."""
    if settings.index_backend == "memory":
        from fieldid.storage.memory_index import MemoryIndex

        return MemoryIndex()
    if settings.index_backend == "milvus":
        from fieldid.storage.milvus_index import MilvusIndex, MilvusOptions

        uri = settings.milvus_uri or str((settings.data_dir / "milvus.db").resolve())
        return MilvusIndex(uri, MilvusOptions.from_settings(settings))
    from fieldid.storage.ann_policy import AnnPolicy
    from fieldid.storage.faiss_index import FaissIndex

    policy = AnnPolicy.from_settings(settings)
    return FaissIndex(settings.index_dir, save_every=settings.index_save_every, policy=policy, keyring=data_keyring(settings))
