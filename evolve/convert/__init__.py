"""``evolve convert``: turn another engine's problem folder into an evolve problem folder.

One module per peer (``openevolve``, ``shinka``), each ``convert(folder, out, config) ->
Conversion``, putting together the modules beside it:

- ``openevolve_keys``, ``openevolve_settings``, ``openevolve_evaluation``: which OpenEvolve
  keys are dropped and why, how its settings map to problem.toml, and its evaluator.py and
  cascade;
- ``shinka_keys``, ``shinka_settings``, ``shinka_script``: the same for ShinkaEvolve, and
  reading its run script without running it;
- shared by both: ``report`` (the draft of problem.toml and the report of what was and was
  not carried over), ``peer_files`` (the peer's folder and Python), ``peer_config`` (its
  YAML config), ``values`` (a value carried to a problem.toml key), ``output`` (writing the
  converted folder) and ``toml_text`` (problem.toml's text);
- ``shims/``: the files written into a converted folder so that the peer's evaluator runs,
  unchanged, without the peer installed.

The result is an ordinary problem folder that ``evolve run`` and ``evolve eval`` take, and a
report of what was carried over and, one line each, what was not and why.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from pathlib import Path

from evolve.convert.report import Conversion
from evolve.errors import UserError

PEERS = {
    "openevolve": "openevolve",
    "open-evolve": "openevolve",
    "shinka": "shinka",
    "shinkaevolve": "shinka",
    "shinka-evolve": "shinka",
}
"""The names ``evolve convert`` takes for each peer, and the module that converts it."""

__all__ = ["PEERS", "Conversion", "convert"]


def convert(
    peer: str, folder: Path, out: Path | None = None, config: Path | None = None
) -> Conversion:
    """Convert ``folder``, a problem of ``peer`` (openevolve or shinka), into an evolve
    problem at ``out`` (default: ``<folder>-evolve`` beside it); ``config`` picks the peer's
    config file where the folder has several."""
    module = PEERS.get(peer.strip().lower())
    if module is None:
        raise UserError(f"unknown peer {peer!r}: give openevolve or shinka")
    run: Callable[..., Conversion] = import_module(f"evolve.convert.{module}").convert
    return run(folder, out, config)
