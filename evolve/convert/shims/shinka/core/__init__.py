"""``shinka.core`` as a ShinkaEvolve evaluator imports it: ``run_shinka_eval`` only."""

from .wrap_eval import run_shinka_eval, save_json_results

__all__ = ["run_shinka_eval", "save_json_results"]
