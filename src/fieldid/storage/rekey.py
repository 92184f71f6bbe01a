"""Key rotation of the encrypted columns: re-encrypt every stored value with the current key."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from sqlalchemy import func, select
from sqlalchemy.orm.attributes import flag_modified

from fieldid.storage.crypto import DataKeyError, Keyring
from fieldid.storage.sql import SqlStore
from fieldid.storage.tables import ProbeImage, Sample, Template

#: (table, primary key column, encrypted columns)
ENCRYPTED = (
    (Sample, Sample.id, ("thumbnail",)),
    (Template, Template.id, ("vector", "data")),
    (ProbeImage, ProbeImage.search_id, ("image",)),
)
BATCH = 500


def raw_key_usage(store: SqlStore, keyring: Keyring) -> Counter[str]:
    """How many stored values use each key id ("plain": not encrypted), read without decrypting."""
    usage: Counter[str] = Counter()
    with store.engine.connect() as conn:
        for table, _, columns in ENCRYPTED:
            for column in columns:
                raw = table.__table__.c[column]
                head = func.substr(raw, 1, 12)  # magic + key id; substr() returns raw bytes
                for (value,) in conn.execute(select(head).where(raw.isnot(None))):
                    kid = keyring.key_of(bytes(value)) if value is not None else None
                    usage["plain" if kid is None else kid.hex()] += 1
    return usage


def reencrypt(store: SqlStore, progress: Callable[[int, int], None] | None = None) -> int:
    """Rewrite every encrypted column with the store's current key; returns the rows rewritten.
    Rows are read through the keyring (any known key) and written back under the current one."""
    if store.keyring is None:
        raise DataKeyError("Encryption at rest is off: nothing to re-encrypt.")
    with store.read() as s:
        total = sum(s.scalar(select(func.count()).select_from(t)) or 0 for t, _, _ in ENCRYPTED)
    done = 0
    for table, pk, columns in ENCRYPTED:
        last = None
        while True:
            with store.write() as s:
                q = select(table).order_by(pk).limit(BATCH)
                if last is not None:
                    q = q.where(pk > last)
                rows = s.execute(q).scalars().all()
                for row in rows:
                    for column in columns:
                        if getattr(row, column) is not None:
                            flag_modified(row, column)
                if rows:
                    last = getattr(rows[-1], pk.key)
            done += len(rows)
            if progress:
                progress(done, total)
            if len(rows) < BATCH:
                break
    return done
