"""A stand-in for the ``shinka`` package, written by ``evolve convert shinka``.

It holds only ``shinka.core.run_shinka_eval``, what a ShinkaEvolve ``evaluate.py`` imports,
so the evaluator runs under evolve without ShinkaEvolve installed. It sits beside the
evaluator, which is first on the import path, so it is used even where ShinkaEvolve is.
"""
