"""Files that ``evolve convert`` writes into a converted problem folder.

They are copied, never imported by evolve itself: small stand-ins for the peers' packages
(``openevolve/``, ``shinka/``), so that the peer's evaluator imports what it needs without
the peer installed, and the two evolve-side evaluators (``openevolve_evaluator.py``,
``shinka_evaluator.py``) that become ``evolve_evaluator.py`` in the converted folder.
Standard library and ``evolve.sdk`` only: they run inside evolve's sandbox.
"""
