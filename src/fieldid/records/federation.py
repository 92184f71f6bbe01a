"""The record broker: asks every source in reach at once, within one deadline, and returns what
the caller may see, with a status for every source (including the ones that did not answer).

A slow or failing source never fails a search: its status says ``timeout``/``error`` and the
others' records come back. Each source has a circuit breaker, so a dead source is skipped
(``circuit_open``) until its cool-down has passed and one trial call succeeds. Sources are
called on short-lived threads: a call that overruns the deadline is abandoned (its thread
ends when the connector's own timeout fires) and never holds up the search.

Integration surface (the service, the API and the CLI use only this):

* :meth:`RecordBroker.from_settings` — sources from ``records_config`` (or the demo sources
  in demo mode);
* :meth:`RecordBroker.describe` / :meth:`RecordBroker.health` — the sources an actor reaches;
* :meth:`RecordBroker.records_for` — records of search candidates by identity id (reads their
  subject keys from the store), or :meth:`RecordBroker.lookup` given the keys;
* :func:`record_access_event` — the audit event of what was disclosed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from fieldid.clock import Clock, SystemClock
from fieldid.errors import SourceNotFound
from fieldid.governance.actor import Actor
from fieldid.governance.audit import Event, EventType
from fieldid.governance.roles import Permission
from fieldid.records.base import (
    CircuitState,
    Record,
    SourceError,
    SourceHealth,
    SourceStatus,
    SourceTimeout,
)
from fieldid.records.circuit import CircuitBreaker
from fieldid.records.config import (
    ConfiguredSource,
    RecordsConfig,
    build_sources,
    demo_records_config,
    load_records_config,
)
from fieldid.records.links import LinkedKey, keys_of
from fieldid.records.policy import FieldAccess, apply_access, field_access, reaches

if TYPE_CHECKING:
    from fieldid.config import Settings
    from fieldid.storage.sql import SqlStore

log = logging.getLogger("fieldid.records")
T = TypeVar("T")


class LookupResult(NamedTuple):
    """Records per identity id (what the caller may see), and one status per source in reach."""

    records_by_identity: dict[str, tuple[Record, ...]]
    statuses: tuple[SourceStatus, ...]

    @property
    def record_count(self) -> int:
        return sum(len(r) for r in self.records_by_identity.values())


@dataclass(frozen=True)
class SourceView:
    """A source as one actor sees it in the source list."""

    name: str
    title: str
    connector: str
    kind: str
    key_system: str
    record_types: tuple[str, ...]
    demo: bool
    federated_only: bool
    access: str  # all | summary | fields | none
    visible_fields: tuple[str, ...]
    circuit: CircuitState


class RecordBroker:
    def __init__(
        self,
        sources: Sequence[ConfiguredSource],
        *,
        timeout_s: float = 2.0,
        circuit_failures: int = 3,
        circuit_cooldown_s: float = 30.0,
        store: SqlStore | None = None,
        clock: Clock | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        names = [s.name for s in sources]
        if len(set(names)) != len(names):
            raise ValueError("source names must be unique")
        self._sources = list(sources)
        self.timeout_s = timeout_s
        self.store = store
        self._clock = clock or SystemClock()
        self._monotonic = monotonic
        self._breakers = {
            s.name: CircuitBreaker(
                s.circuit_failures or circuit_failures,
                circuit_cooldown_s if s.circuit_cooldown_s is None else s.circuit_cooldown_s,
                monotonic,
            )
            for s in self._sources
        }

    @classmethod
    def from_settings(
        cls, settings: Settings, store: SqlStore | None = None, *, clock: Clock | None = None
    ) -> RecordBroker:
        """Sources from ``settings.records_config``; without one, the built-in demo sources in
        demo mode and no sources otherwise."""
        clock = clock or SystemClock()
        if settings.records_config is not None:
            config = load_records_config(settings.records_config)
        elif settings.demo:
            config = demo_records_config()
        else:
            config = RecordsConfig()
        sources = build_sources(config, clock=clock, environment=settings.environment)
        return cls(
            sources,
            timeout_s=settings.records_timeout_s,
            circuit_failures=settings.records_circuit_failures,
            circuit_cooldown_s=settings.records_circuit_cooldown_s,
            store=store,
            clock=clock,
        )

    @property
    def source_names(self) -> list[str]:
        return [s.name for s in self._sources]

    def close(self) -> None:
        for s in self._sources:
            s.source.close()

    # -- listing and health ----------------------------------------------------------------------
    def describe(self, actor: Actor) -> list[SourceView]:
        """The sources the actor's agency reaches (others are never named), with what the actor
        may see of each."""
        views = []
        for cs in self._in_reach(actor):
            d = cs.source.describe()
            access = field_access(actor, cs.policy)
            visible = d.fields if access.fields is None else tuple(f for f in d.fields if f in access.fields)
            views.append(
                SourceView(
                    d.name,
                    d.title,
                    d.connector,
                    d.kind,
                    d.key_system,
                    d.record_types,
                    d.demo,
                    cs.policy.federated_only,
                    access.level,
                    visible if access.any else (),
                    self._breakers[d.name].state,
                )
            )
        return views

    def health(
        self, actor: Actor, name: str | None = None, *, timeout_s: float | None = None
    ) -> list[SourceHealth]:
        """Probe the sources in reach (or the one named) concurrently. Health probes bypass the
        circuit breaker (they are how an operator sees a dead source) but do not close it."""
        chosen = self._in_reach(actor)
        if name is not None:
            chosen = [cs for cs in chosen if cs.name == name]
            if not chosen:
                raise SourceNotFound(f"No record source {name!r} in reach.")
        budget = timeout_s or self.timeout_s
        calls = {
            cs.name: (lambda cs=cs: cs.source.health(timeout_s=self._timeout_for(cs, budget)))
            for cs in chosen
        }
        outcomes = self._fan_out(calls, budget)
        out = []
        for cs in chosen:
            outcome, latency = outcomes[cs.name]
            if isinstance(outcome, SourceHealth):
                health = outcome
            else:
                status = "timeout" if outcome is None or isinstance(outcome, SourceTimeout) else "error"
                health = SourceHealth(cs.name, status, latency, _message(outcome, budget), self._clock.now())
            out.append(replace(health, circuit=self._breakers[cs.name].state))
        return out

    # -- lookups ---------------------------------------------------------------------------------
    def records_for(
        self,
        actor: Actor,
        identity_ids: Sequence[str],
        *,
        federated: bool = False,
        timeout_s: float | None = None,
    ) -> LookupResult:
        """Records of the given identities (search candidates), their keys read from the store."""
        if self.store is None:
            raise RuntimeError("records_for needs the broker to be built with the store")
        with self.store.read() as session:
            keys = keys_of(session, identity_ids)
        return self.lookup(actor, keys, federated=federated, timeout_s=timeout_s)

    def lookup(
        self,
        actor: Actor,
        subject_keys_by_identity: Mapping[str, Sequence[LinkedKey]],
        *,
        federated: bool = False,
        timeout_s: float | None = None,
    ) -> LookupResult:
        """Ask every source in reach for the records under the identities' keys, concurrently,
        within ``timeout_s`` (default: the broker's), and filter them by the access policy.

        A federated lookup also reaches ``federated_only`` sources and needs the federated
        permission. Every source in reach gets a status; sources out of reach are not named.
        """
        if federated:
            actor.require(Permission.SEARCH_FEDERATED)
        budget = timeout_s or self.timeout_s
        statuses: dict[str, SourceStatus] = {}
        asked: dict[str, tuple[ConfiguredSource, FieldAccess, list[str]]] = {}
        for cs in self._in_reach(actor):
            status, access, keys = self._plan(actor, cs, subject_keys_by_identity, federated)
            if status is not None:
                statuses[cs.name] = status
            else:
                asked[cs.name] = (cs, access, keys)
        calls = {
            name: (lambda cs=cs, keys=keys: cs.source.lookup(keys, timeout_s=self._timeout_for(cs, budget)))
            for name, (cs, _, keys) in asked.items()
        }
        outcomes = self._fan_out(calls, budget)

        shown: dict[tuple[str, str], list[Record]] = {}  # (key system, key) -> records the caller may see
        for name, (cs, access, keys) in asked.items():
            outcome, latency = outcomes[name]
            breaker = self._breakers[name]
            if isinstance(outcome, list):
                breaker.record_success()
                wanted, system = set(keys), cs.source.describe().key_system
                # only records under the keys asked: a source's mistake never lands on another person
                mine = [r for r in outcome if r.subject_key in wanted and r.source == name]
                for record in mine:
                    visible = apply_access(record, access)
                    if visible is not None:
                        shown.setdefault((system, record.subject_key), []).append(visible)
                statuses[name] = SourceStatus(name, "ok", latency, "", len(mine))
            else:
                breaker.record_failure()
                timed_out = outcome is None or isinstance(outcome, SourceTimeout)
                statuses[name] = SourceStatus(
                    name, "timeout" if timed_out else "error", latency, _message(outcome, budget)
                )
                if not isinstance(outcome, SourceError | None):
                    log.warning("record source %s failed: %s", name, type(outcome).__name__)

        order = {name: i for i, name in enumerate(self.source_names)}
        by_identity: dict[str, tuple[Record, ...]] = {}
        for identity_id, linked in subject_keys_by_identity.items():
            seen: dict[tuple[str, str], Record] = {}
            for lk in linked:
                for record in shown.get((lk.system, lk.key), ()):
                    seen.setdefault((record.source, record.record_id), record)
            by_identity[identity_id] = tuple(
                sorted(
                    seen.values(),
                    key=lambda r: (
                        order[r.source],
                        -(r.updated_at.timestamp() if r.updated_at else 0.0),
                        r.record_id,
                    ),
                )
            )
        return LookupResult(by_identity, tuple(statuses[n] for n in self.source_names if n in statuses))

    # -- internals -------------------------------------------------------------------------------
    def _in_reach(self, actor: Actor) -> list[ConfiguredSource]:
        return [cs for cs in self._sources if reaches(actor, cs.policy)]

    def _timeout_for(self, cs: ConfiguredSource, budget: float) -> float:
        return min(cs.timeout_s, budget) if cs.timeout_s else budget

    def _plan(
        self,
        actor: Actor,
        cs: ConfiguredSource,
        keys_by_identity: Mapping[str, Sequence[LinkedKey]],
        federated: bool,
    ) -> tuple[SourceStatus | None, FieldAccess, list[str]]:
        name = cs.name
        access = field_access(actor, cs.policy)
        if cs.policy.federated_only and not federated:
            return (
                SourceStatus(name, "not_permitted", message="reached only by a federated query"),
                access,
                [],
            )
        if not access.any:
            return (
                SourceStatus(
                    name, "not_permitted", message=f"the role {actor.role} may not see records of this source"
                ),
                access,
                [],
            )
        system = cs.source.describe().key_system
        keys = sorted({k.key for linked in keys_by_identity.values() for k in linked if k.system == system})
        if not keys:
            return (
                SourceStatus(name, "not_linked", message="no candidate has a key in this source"),
                access,
                [],
            )
        breaker = self._breakers[name]
        if not breaker.allow():
            return (
                SourceStatus(
                    name,
                    "circuit_open",
                    message=(
                        f"not asked: failed {breaker.consecutive_failures} times in a row; "
                        f"next try in {breaker.retry_in_s():.0f} s"
                    ),
                ),
                access,
                [],
            )
        return None, access, keys

    def _fan_out(
        self, calls: Mapping[str, Callable[[], T]], budget: float
    ) -> dict[str, tuple[T | Exception | None, float]]:
        """Run the calls at once. By name: (the result, or the exception it raised, or None if it
        had not finished within ``budget`` seconds; latency in ms, wall time)."""
        if not calls:
            return {}
        started = time.monotonic()
        pool = ThreadPoolExecutor(max_workers=len(calls), thread_name_prefix="fieldid-records")
        try:
            futures = {name: pool.submit(_timed, call) for name, call in calls.items()}
            wait(futures.values(), timeout=budget)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)  # an overrunning call is abandoned, not awaited
        elapsed = round((time.monotonic() - started) * 1000, 1)
        return {
            name: future.result() if future.done() else (None, elapsed) for name, future in futures.items()
        }


def _timed(call: Callable[[], T]) -> tuple[T | Exception, float]:
    """Run ``call`` on a worker thread: its result or its exception, and how long it took."""
    started = time.monotonic()
    try:
        result: T | Exception = call()
    except Exception as exc:  # noqa: BLE001 - every failure of a source becomes its status
        result = exc
    return result, round((time.monotonic() - started) * 1000, 1)


def _message(outcome: BaseException | None, budget: float) -> str:
    if outcome is None:
        return f"no answer within {budget:.2g} s"
    if isinstance(outcome, SourceError):
        return str(outcome)
    return f"the source failed ({type(outcome).__name__})"  # unexpected: no text that might hold keys


# -- audit --------------------------------------------------------------------------------------
def access_event_details(result: LookupResult, *, search_id: str | None, federated: bool) -> dict[str, Any]:
    """What the audit log keeps of a record lookup: which records were shown to whom, with which
    fields (names, never values: the values stay in their source), and how each source answered."""
    return {
        "search_id": search_id,
        "federated": federated,
        "sources": [
            {
                "source": s.source,
                "status": s.status,
                "latency_ms": s.latency_ms,
                "records": s.records,
                "message": s.message,
            }
            for s in result.statuses
        ],
        "records_shown": [
            {
                "identity_id": identity_id,
                "source": r.source,
                "record_id": r.record_id,
                "record_type": r.record_type,
                "fields_shown": sorted(r.fields),
                "fields_withheld": list(r.withheld_fields),
                "source_updated_at": r.updated_at,
                "demo": r.demo,
            }
            for identity_id, records in sorted(result.records_by_identity.items())
            for r in records
        ],
    }


def record_access_event(
    actor: Actor,
    result: LookupResult,
    *,
    search_id: str | None,
    purpose: str | None,
    case_number: str | None,
    federated: bool,
) -> Event | None:
    """The ``record.access`` event of a lookup, or None when no source was asked (nothing was
    disclosed or requested: every source was not linked, not permitted or circuit-open)."""
    if not any(s.status in ("ok", "timeout", "error") for s in result.statuses):
        return None
    details = access_event_details(result, search_id=search_id, federated=federated)
    details["via"] = actor.via
    return Event(EventType.RECORD_ACCESS, actor.agency_id, actor.user_id, purpose, case_number, None, details)
