"""Evaluator for the golomb_ruler_c problem: a C program that prints a 12-mark Golomb ruler.

The candidate is C source. It is compiled with the system C compiler (``cc`` on PATH) in a
temporary folder (the sandbox's writable work directory: ``TMPDIR`` points there), then
the binary runs in a session of its own with no input, a time limit, capped output, no
core dumps and no capabilities; this process is made non-dumpable first, so the program
cannot open its descriptors or memory through ``/proc``. Its standard output is read
strictly and the ruler is verified exactly, with Python integers:

* the output is ASCII and holds exactly ``MARKS`` integers (an optional ``-`` and decimal
  digits) separated by spaces, tabs or newlines, and nothing else;
* every mark is nonnegative and at most ``MAX_MARK``; the marks are distinct;
* all ``MARKS * (MARKS - 1) / 2`` pairwise differences are distinct.

The score ``length`` (largest mark minus smallest) is recomputed from the marks. The first
violation raises ``ValueError`` with a one-line reason; a program that does not compile
raises ``RuntimeError`` with the compiler's first error line; one that runs past
``RUN_TIMEOUT`` raises ``TimeoutError``; one that crashes or exits nonzero raises
``RuntimeError``.
"""

from __future__ import annotations

import contextlib
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import IO

from evolve import EvaluationResult
from evolve.sdk.wire import harden

MARKS: int = 12
OPTIMUM: int = 85
MAX_MARK: int = 1_000_000
COMPILER: str = "cc"
CFLAGS: tuple[str, ...] = ("-std=gnu11", "-O2")
COMPILE_TIMEOUT: float = 30.0
RUN_TIMEOUT: float = 5.0
OUTPUT_CAP: int = 64 * 1024
"""Bytes the program may write to stdout (and to stderr); past that it is killed."""
BINARY_CAP: int = 64 * 1024 * 1024
"""Bytes any file the compiler writes may have."""
RUN_MEMORY: int = 512 * 1024 * 1024
"""Address space of the running program, in bytes."""

_TOKEN = re.compile(r"-?[0-9]+")
_SEPARATORS = re.compile(r"[ \t\r\n]+")
_ERROR_LINE = re.compile(r"\berror\b|undefined reference", re.IGNORECASE)


def _protect() -> None:
    """Make this process non-dumpable, so that the program it runs cannot open its
    ``/proc/<pid>/fd`` (the evaluation's result pipe) or ptrace it."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE, 0


def _limits(file_size: int, address_space: int | None, cpu: int) -> Callable[[], None]:
    """A preexec function setting rlimits (never above the current hard limits) and giving
    up every capability, as ``evolve.sdk`` does for a Python candidate's process."""
    wanted = [
        (resource.RLIMIT_CORE, 0),
        (resource.RLIMIT_FSIZE, file_size),
        (resource.RLIMIT_CPU, cpu),
    ]
    if address_space is not None:
        wanted.append((resource.RLIMIT_AS, address_space))
    plan = []
    for which, value in wanted:
        _, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        plan.append((which, value))

    def apply() -> None:
        for which, value in plan:
            resource.setrlimit(which, (value, value))
        harden()  # no capabilities: no ptrace, no /proc/<pid>/fd of this process

    return apply


def _run(
    cmd: list[str],
    cwd: str,
    timeout: float,
    out: IO[bytes],
    err: IO[bytes],
    limits: Callable[[], None],
) -> tuple[int | None, float]:
    """Run ``cmd`` in a session of its own; kill the whole session after ``timeout``.
    Return (exit status, or None on timeout; seconds)."""
    env = {"PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"), "LC_ALL": "C"}
    if "TMPDIR" in os.environ:
        env["TMPDIR"] = os.environ["TMPDIR"]
    start = time.monotonic()
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=out,
        stderr=err,
        start_new_session=True,
        preexec_fn=limits,
    )
    try:
        code: int | None = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        code = None
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # whatever it left running
        proc.wait()
    return code, time.monotonic() - start


def _first_error(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for line in lines:
        if _ERROR_LINE.search(line):
            return line[:300]
    return lines[0][:300] if lines else ""


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def compile_program(source: str, folder: str) -> tuple[str, float]:
    """Compile ``source`` (C text) in ``folder``; return the binary's path and the seconds
    it took. RuntimeError with the first error line if it does not compile."""
    compiler = shutil.which(COMPILER)
    if compiler is None:
        raise RuntimeError(
            f"no C compiler: {COMPILER!r} is not on PATH ({os.environ.get('PATH', '')}); "
            "install one (e.g. gcc) where evaluations run"
        )
    with open(os.path.join(folder, "program.c"), "w", encoding="utf-8") as f:
        f.write(source)
    log = os.path.join(folder, "compile.log")
    with open(log, "wb") as err:
        code, seconds = _run(
            [compiler, *CFLAGS, "-o", "ruler", "program.c", "-lm"],
            folder,
            COMPILE_TIMEOUT,
            err,
            err,
            _limits(BINARY_CAP, None, int(COMPILE_TIMEOUT) + 5),
        )
    if code is None:
        raise TimeoutError(f"compilation took longer than {COMPILE_TIMEOUT:g} s")
    if code != 0:
        with open(log, "rb") as f:
            text = f.read(OUTPUT_CAP).decode("utf-8", errors="replace")
        reason = _first_error(text) or f"the compiler {_describe_exit(code)}"
        raise RuntimeError(f"does not compile: {reason}")
    return os.path.join(folder, "ruler"), seconds


def run_program(binary: str, folder: str) -> tuple[bytes, float]:
    """Run the binary; return its standard output and the seconds it took."""
    out_path, err_path = os.path.join(folder, "stdout"), os.path.join(folder, "stderr")
    _protect()
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        code, seconds = _run(
            [binary],
            folder,
            RUN_TIMEOUT,
            out,
            err,
            _limits(OUTPUT_CAP, RUN_MEMORY, int(RUN_TIMEOUT) + 2),
        )
    if code is None:
        raise TimeoutError(f"the program did not finish within {RUN_TIMEOUT:g} s")
    if code == -signal.SIGXFSZ:
        raise ValueError(f"the program wrote more than {OUTPUT_CAP} bytes of output")
    if code != 0:
        raise RuntimeError(f"the program {_describe_exit(code)}")
    with open(out_path, "rb") as f:
        return f.read(OUTPUT_CAP + 1), seconds


def parse_marks(output: bytes) -> list[int]:
    """The marks printed, as Python ints; ValueError unless the output is exactly MARKS
    integers separated by whitespace."""
    try:
        text = output.decode("ascii")
    except UnicodeDecodeError as exc:
        raise ValueError(f"the output is not ASCII text (byte {exc.start})") from None
    body = text.strip(" \t\r\n")
    tokens = _SEPARATORS.split(body) if body else []
    for i, tok in enumerate(tokens):
        if not _TOKEN.fullmatch(tok):
            raise ValueError(f"output item {i + 1} is not an integer: {tok[:40]!r}")
        if len(tok) > 20:
            raise ValueError(f"output item {i + 1} has {len(tok)} characters: too large a mark")
    if len(tokens) != MARKS:
        raise ValueError(f"the program printed {len(tokens)} integers, not exactly {MARKS}")
    return [int(tok) for tok in tokens]


def verify(marks: list[int]) -> None:
    """ValueError naming the first violation unless ``marks`` is a Golomb ruler within
    [0, MAX_MARK]."""
    if len(marks) != MARKS:
        raise ValueError(f"{len(marks)} marks, not {MARKS}")
    for i, m in enumerate(marks):
        if type(m) is not int:
            raise ValueError(f"mark {i + 1} is not an integer ({m!r})")
        if m < 0:
            raise ValueError(f"mark {i + 1} is negative ({m})")
        if m > MAX_MARK:
            raise ValueError(f"mark {i + 1} is {m}, over the limit {MAX_MARK}")
    seen: dict[int, int] = {}
    for i, m in enumerate(marks):
        if m in seen:
            raise ValueError(f"mark {m} appears twice (items {seen[m] + 1} and {i + 1})")
        seen[m] = i
    ordered = sorted(marks)
    pairs: dict[int, tuple[int, int]] = {}
    for j in range(len(ordered)):
        for i in range(j):
            d = ordered[j] - ordered[i]
            if d in pairs:
                a, b = pairs[d]
                raise ValueError(
                    f"difference {d} occurs twice: {b} - {a} and {ordered[j]} - {ordered[i]}"
                )
            pairs[d] = (ordered[i], ordered[j])


def evaluate(program_path: str) -> EvaluationResult:
    """Compile, run and verify the candidate; score it by its ruler's length."""
    with open(program_path, encoding="utf-8") as f:
        source = f.read()
    with tempfile.TemporaryDirectory(prefix="golomb-") as folder:
        binary, compile_seconds = compile_program(source, folder)
        output, run_seconds = run_program(binary, folder)
    marks = parse_marks(output)
    verify(marks)
    length = max(marks) - min(marks)
    metrics = {
        "length": float(length),
        "excess_over_optimum": float(length - OPTIMUM),
        "compile_seconds": compile_seconds,
        "run_seconds": run_seconds,
    }
    return EvaluationResult(metrics=metrics, artifacts={"ruler": " ".join(map(str, sorted(marks)))})
