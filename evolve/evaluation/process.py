"""The ``process`` backend: each evaluation in a jailed local process group.

It starts ``python -I -S sandbox/harness.py`` in its own session and process group, in a
private temporary directory, with an allow-listed environment (no API keys), inside the
strongest namespace jail the machine allows (``evolve.evaluation.jail``: bubblewrap, else
``unshare --net``) and a pids cgroup of its own. The harness applies rlimits (memory, CPU
time, file size, open files) to itself before any evaluator code runs. On timeout, and
after every evaluation, the process group and every process of the cgroup are killed.
Never threads for untrusted code.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from evolve.config import SandboxConfig
from evolve.evaluation.backend import (
    RESULT_CAP,
    Call,
    Capped,
    RawOutcome,
    harness_spec,
    parse_result,
    program_name,
    sandbox_env,
)
from evolve.evaluation.jail import Jail, PidsCgroup, detect, python_paths
from evolve.problem import EvaluatorTarget
from evolve.procs import kill_group
from evolve.resources import harness_path


class ProcessBackend:
    """Evaluate in a local child process group, jailed, with rlimits and a scrubbed env."""

    name = "process"

    def __init__(
        self,
        evaluator: EvaluatorTarget,
        sandbox: SandboxConfig,
        language: str = "python",
        hidden: tuple[Path, ...] = (),
        jail: Jail | None = None,
    ) -> None:
        """``hidden``: files a candidate must not read even where it can see their folder
        (the run database)."""
        self.evaluator = evaluator
        self.sandbox = sandbox
        self.language = language
        self.jail = jail or detect()
        self.lost = self.jail.lost
        self.hidden = tuple(hidden)
        readable = [*python_paths(), harness_path().parent]
        if evaluator.path is not None:
            readable.append(evaluator.path.parent)
        readable.extend(f.parent for f in evaluator.files)  # test cases, test files
        self._readable = tuple(readable)

    async def close(self) -> None:
        """Nothing outlives an evaluation here."""

    async def run(self, code: str, call: Call, devices: list[int]) -> RawOutcome:
        workdir = Path(tempfile.mkdtemp(prefix="evolve-eval-"))
        # Our own pipes, not asyncio's: its Process.wait() also waits for the pipes to close,
        # which a leftover grandchild holding them open would stretch to the full timeout.
        pipes = [os.pipe() for _ in range(3)]  # stdout, stderr, result
        unclosed = {fd for pair in pipes for fd in pair}
        proc = None
        readers: list[asyncio.Task[None]] = []
        group = PidsCgroup.create(self.sandbox.max_processes)
        try:
            program = workdir / program_name(self.language)
            program.write_text(code, encoding="utf-8")
            spec = harness_spec(
                self.evaluator,
                self.sandbox,
                call,
                program_path=str(program),
                evaluator_path=str(self.evaluator.path) if self.evaluator.path else None,
                result_fd=pipes[2][1],
            )
            spec_file = workdir / ".evolve-spec.json"
            spec_file.write_text(json.dumps(spec), encoding="utf-8")
            # -I: no user site, no PYTHON* variables; -S: no site hooks (.pth code) at startup,
            # which can cost more than the evaluation; the harness gets our import path.
            cmd = self.jail.wrap(
                [sys.executable, "-I", "-S", str(harness_path()), str(spec_file)],
                workdir,
                network=self.sandbox.network,
                readable=self._readable,
                hidden=self.hidden,
                gpus=bool(devices),
            )
            if group is not None:
                cmd = group.wrap(cmd)
            proc = await asyncio.create_subprocess_exec(
                *cmd,
                cwd=workdir,
                env=sandbox_env(self.sandbox, str(workdir), devices),
                stdin=subprocess.DEVNULL,
                stdout=pipes[0][1],
                stderr=pipes[1][1],
                pass_fds=(pipes[2][1],),
                start_new_session=True,
            )
            for _, write_end in pipes:
                os.close(write_end)
                unclosed.discard(write_end)
            cap = self.sandbox.max_output_bytes
            out, err, res = Capped(cap), Capped(cap), Capped(RESULT_CAP)
            readers = [
                asyncio.create_task(sink.drain_fd(read_end))
                for sink, (read_end, _) in zip((out, err, res), pipes, strict=True)
            ]
            timed_out = False
            try:
                await asyncio.wait_for(proc.wait(), timeout=call.timeout)
            except TimeoutError:
                timed_out = True
            kill_group(proc.pid)  # whatever the candidate left running
            await proc.wait()
            _, pending = await asyncio.wait(readers, timeout=2.0)
            if pending:  # a process that left the group still holds a pipe open
                err.note(
                    "[a process that escaped the evaluation's process group kept its "
                    "output open; output cut here]"
                )
            if timed_out:
                return RawOutcome({"kind": "timeout"}, out.text(), err.text())
            returncode = proc.returncode
            if self.jail.kind == "bwrap" and returncode is not None and returncode > 128:
                returncode = 128 - returncode  # bwrap reports death by signal N as 128 + N
            message = parse_result(bytes(res.data), returncode)
            return RawOutcome(message, out.text(), err.text())
        finally:
            if proc is not None:
                kill_group(proc.pid)
            if group is not None:
                group.remove()  # every process it ever held, wherever it went
                if proc is not None and proc.returncode is None:
                    await proc.wait()
            for task in readers:
                task.cancel()
            if readers:
                await asyncio.gather(*readers, return_exceptions=True)
            for fd in unclosed:  # each exactly once: a number closed twice may be reused
                os.close(fd)
            shutil.rmtree(workdir, ignore_errors=True)
