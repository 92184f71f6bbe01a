"""Searching: the parts of a probe (:mod:`.parts`), the one path from parts to a decision
(:mod:`.compare`), what a search leaves on the record (:mod:`.receipts`), and the service that
checks, runs and records identifications and verifications (:mod:`.service`)."""

from fieldid.search.service import SearchService

__all__ = ["SearchService"]
