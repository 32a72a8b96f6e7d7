"""Persistence: the lineage database, the single source of truth of a run.

``store.Store`` writes (the engine's only access); ``reader.Reader`` reads, read-only, for
the CLI, the UI and the notebook API; ``rows`` maps rows to the ``evolve.core`` records and
back; ``views`` is how every output shows a record; ``stats`` the grouped aggregates.
"""
