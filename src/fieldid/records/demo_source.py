"""The built-in demo source: synthetic records (see :mod:`fieldid.records.synthetic`), labelled DEMO.

It answers for pseudonymous demo keys only, from a seed, without any storage: the same key
always gives the same records. ``kind`` is ``demo`` (or ``training`` for a sandbox source), so
it is reached in training mode and refused in production (see :mod:`fieldid.records.config`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from fieldid.clock import Clock, SystemClock
from fieldid.records.base import Record, SourceDescription, SourceHealth, SourceKind
from fieldid.records.synthetic import DEFAULT_SEED, DEMO_SYSTEMS, RECORD_FIELDS, synthetic_records


class DemoSource:
    def __init__(
        self, description: SourceDescription, *, seed: int = DEFAULT_SEED, clock: Clock | None = None
    ) -> None:
        if description.kind == "operational" or not description.demo:
            raise ValueError("a demo source is of kind 'demo' or 'training' and marked demo")
        if not description.record_types:
            raise ValueError("a demo source needs record_types")
        self._description = description
        self.seed = seed
        self._clock = clock or SystemClock()
        synthetic_records(
            seed,
            (),
            source=description.name,
            record_types=description.record_types,
            retrieved_at=self._clock.now(),
        )  # unknown record types fail here, at start-up

    def describe(self) -> SourceDescription:
        return self._description

    def lookup(self, subject_keys: Sequence[str], *, timeout_s: float) -> list[Record]:
        return synthetic_records(
            self.seed,
            subject_keys,
            source=self._description.name,
            record_types=self._description.record_types,
            retrieved_at=self._clock.now(),
        )

    def health(self, *, timeout_s: float) -> SourceHealth:
        started = time.monotonic()
        return SourceHealth(
            self._description.name,
            "ok",
            round((time.monotonic() - started) * 1000, 1),
            "synthetic records (DEMO)",
            self._clock.now(),
            details={"seed": self.seed},
        )

    def close(self) -> None:
        pass


def demo_description(system: str, *, kind: SourceKind = "demo", name: str | None = None) -> SourceDescription:
    """The description of the built-in demo source for one demo system (keys of that system)."""
    types = DEMO_SYSTEMS[system]
    titles = {
        "demo-police": "DEMO police records (encounters, cases, watch list)",
        "demo-border": "DEMO border-crossing records",
        "demo-benefits": "DEMO benefits and case-work records",
    }
    fields = tuple(dict.fromkeys(f for t in types for f in RECORD_FIELDS[t]))
    return SourceDescription(
        name=name or system,
        title=titles[system],
        connector="demo",
        kind=kind,
        key_system=system,
        record_types=types,
        fields=fields,
        demo=True,
    )
