"""Storage behind small interfaces: a relational store and a vector index (see base.py)."""
