"""Persistence: the lineage database, the single source of truth of a run."""
