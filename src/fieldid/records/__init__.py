"""Connected record systems: linked records of search candidates, filtered by role and agency.

:class:`RecordBroker` is the one entry point (see :mod:`fieldid.records.federation`); sources
implement :class:`RecordSource` (:mod:`fieldid.records.base`); configuration is a YAML file
(:mod:`fieldid.records.config`, docs/records.example.yaml).
"""

from fieldid.records.base import (
    Record,
    RecordSource,
    SourceDescription,
    SourceError,
    SourceHealth,
    SourceStatus,
    SourceTimeout,
)
from fieldid.records.federation import (
    LookupResult,
    RecordBroker,
    SourceView,
    access_event_details,
    record_access_event,
)
from fieldid.records.links import LinkedKey, keys_of, link_key, own_key_system, seed_demo_links

__all__ = [
    "LinkedKey",
    "LookupResult",
    "Record",
    "RecordBroker",
    "RecordSource",
    "SourceDescription",
    "SourceError",
    "SourceHealth",
    "SourceStatus",
    "SourceTimeout",
    "SourceView",
    "access_event_details",
    "keys_of",
    "link_key",
    "own_key_system",
    "record_access_event",
    "seed_demo_links",
]
