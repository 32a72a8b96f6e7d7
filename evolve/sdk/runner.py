"""Run a function of the program being scored in a process of its own, and get its return
value back as data.

For evaluator authors: the code that computes a score must not share a process with the
code being scored, or the program can patch numpy, builtins or the evaluator itself.
``call(program_path, "run", *args, **kwargs)`` starts a fresh ``python -I -S`` child in
its own process group, sends the arguments, runs the function there and returns what it
returned, as plain data (JSON-like values and plain numpy arrays, never unpickled; see
``evolve.sdk.wire``)::

    from evolve.sdk import CallError, call

    def evaluate(program_path):
        centers, radii = call(program_path, "construct_packing", timeout=30)
        ...  # check and score here, in the evaluator's own process

Anything that goes wrong on the program's side raises ``CallError`` with a ``kind``:
``raised`` (it raised, or would not load), ``timeout`` (killed with its whole group),
``crashed`` (its process died without an answer) or ``bad_result`` (it returned something
that cannot travel as data). Let it propagate and the candidate fails with its message.

The evaluator's process is protected from its child: it is made non-dumpable (the child
cannot ptrace it nor open ``/proc/<pid>/mem`` or ``/proc/<pid>/fd``), no descriptor but
the child's own pipes is inherited (the harness's result pipe never is), the child gets
the evaluation's allow-listed environment (``protocol.EVALUATION_ENV``) and gives up every
capability before the program runs; rlimits are inherited. Under the sandbox harness
(which sets the evaluation's clock, ``evolve.sdk.context``) a call without a ``timeout``
runs until the evaluation's own time limit (``sandbox.timeout``) ends it, and the
candidate is marked ``timeout``; a ``timeout`` given is cut to what is left of that limit
less a margin, so the evaluator can still report (``remaining_time()``).

Standard library only at import time; numpy is needed only where arrays are exchanged.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any

from evolve.sdk import context, wire
from evolve.sdk.context import remaining_time
from evolve.sdk.exchange import KINDS, CallError, CallOutcome, Exchange
from evolve.sdk.protocol import EVALUATION_ENV, VALUE_CAP

__all__ = ["KINDS", "CallError", "CallOutcome", "call", "remaining_time", "run"]

DEFAULT_TIMEOUT = 300.0
"""Seconds a call may take where no evaluation clock is set, when none is given."""
OVERRUN = 60.0
"""Seconds past the evaluation's limit a call without a timeout may take: the sandbox's
own limit ends it first, and the candidate is marked ``timeout``, not ``error``."""

_protected = False


def call(
    program_path: str | os.PathLike[str],
    function: str,
    *args: Any,
    timeout: float | None = None,
    **kwargs: Any,
) -> Any:
    """Run ``function(*args, **kwargs)`` of the program file in a fresh process; return
    its value (plain data). Raises ``CallError``. ``timeout``: seconds (default: the
    evaluation's own time limit under the sandbox, else ``DEFAULT_TIMEOUT``)."""
    return run(program_path, function, args, kwargs, timeout=timeout).value


def run(
    program_path: str | os.PathLike[str],
    function: str,
    args: tuple[Any, ...] | list[Any] = (),
    kwargs: dict[str, Any] | None = None,
    *,
    timeout: float | None = None,
    memory_mb: int | None = None,
    env: dict[str, str] | None = None,
    echo: bool = True,
) -> CallOutcome:
    """Like ``call``, with the details: the ``CallOutcome`` (value, seconds, output), a
    memory cap for the child, extra environment variables, and ``echo`` (copy the child's
    output to this process's stdout and stderr, where the evaluation's output is kept)."""
    clock = context.current()
    adopt = clock is not None and clock.harness
    _protect(adopt)
    program = os.path.abspath(os.fspath(program_path))
    if not os.path.isfile(program):
        raise FileNotFoundError(f"{program}: no such program file (check program_path)")
    left = remaining_time()
    if timeout is not None:  # the evaluator's own limit, leaving it time to report
        limit = timeout if left is None else min(timeout, left)
    elif left is None:
        limit = DEFAULT_TIMEOUT
    else:  # none given: the sandbox's own time limit decides (status "timeout")
        limit = left + OVERRUN
    try:
        payload, blobs = wire.encode([tuple(args), dict(kwargs or {})])
    except wire.WireError as exc:
        raise TypeError(f"arguments for {function} cannot be sent to the program: {exc}") from None
    request = {
        "program": program,
        "function": function,
        "sys_path": [p for p in sys.path if p and os.path.isdir(p)],
        "limit": VALUE_CAP,
        "memory_bytes": memory_mb * 1024 * 1024 if memory_mb else None,
    }
    arguments = wire.pack({"args": payload[0], "kwargs": payload[1]}, blobs)
    if len(arguments) > VALUE_CAP:
        raise ValueError(f"arguments for {function} exceed {VALUE_CAP} bytes")
    exchange = Exchange(program, function, _child_env(env), adopt)
    try:
        outcome = exchange.run(wire.pack(request), arguments, max(limit, 0.05))
    except CallError as exc:
        if echo:  # the program's own traceback, for whoever reads the evaluation's output
            _echo(exc.stdout, sys.stdout)
            _echo(exc.stderr + exc.traceback, sys.stderr)
        raise
    if echo:
        _echo(outcome.stdout, sys.stdout)
        _echo(outcome.stderr, sys.stderr)
    return outcome


def _echo(text: str, stream: Any) -> None:
    if text:
        with contextlib.suppress(OSError, ValueError):
            stream.write(text)
            stream.flush()


def _child_env(extra: dict[str, str] | None) -> dict[str, str]:
    env = {k: os.environ[k] for k in EVALUATION_ENV if k in os.environ}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.update(extra or {})
    return env


def _protect(adopt: bool) -> None:
    """Make this process non-dumpable (no ptrace, no /proc/<pid>/mem or fd for the child);
    with ``adopt`` (the harness's process), also adopt the program's orphans so that they
    can be killed."""
    global _protected
    if _protected or not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return
    pr_set_dumpable, pr_set_child_subreaper = 4, 36
    libc.prctl(pr_set_dumpable, 0, 0, 0, 0)
    if adopt:
        libc.prctl(pr_set_child_subreaper, 1, 0, 0, 0)
    _protected = True
