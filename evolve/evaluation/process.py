"""The ``process`` backend: each evaluation in a jailed local process group.

It starts ``python -I -S .../evolve/sdk/harness.py`` in its own session and process group, in a
private temporary directory, with an allow-listed environment (no API keys), inside the
strongest namespace jail the machine allows (``evolve.evaluation.jail``: bubblewrap, else
``unshare --net``) and a cgroup of its own that bounds the whole evaluation, every process
the candidate starts counted together: ``sandbox.max_processes`` processes and
``sandbox.memory_mb`` of memory, no swap. Where the kernel cannot hold a cgroup to a memory
limit, a watcher adds up the evaluation's resident memory every 50 ms instead, and the
harness keeps RLIMIT_AS on each process (with a cgroup limit that rlimit only breaks
runtimes that reserve address space: CUDA, JVMs, V8). An evaluation over its memory
limit is killed whole and reported as out of memory. The harness applies its other rlimits
(CPU time, file size, open files) to itself before any evaluator code runs. On timeout,
and after every evaluation, the process group and every process of the cgroup are killed.
Never threads for untrusted code.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from evolve.config import SandboxConfig
from evolve.evaluation.backend import (
    HARNESS,
    HARNESS_ROOT,
    Call,
    Capped,
    RawOutcome,
    harness_spec,
    program_name,
    sandbox_env,
)
from evolve.evaluation.cgroups import WATCH_SECONDS, Cgroups, EvaluationCgroup
from evolve.evaluation.cgroups import cgroups as detect_cgroups
from evolve.evaluation.jail import Jail, detect, python_paths
from evolve.problem import EvaluatorTarget
from evolve.sdk.procs import kill_group
from evolve.sdk.protocol import MESSAGE_CAP, HarnessMessage


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
        cgroups: Cgroups | None = None,
    ) -> None:
        """``hidden``: files a candidate must not read even where it can see their folder
        (the run database). ``jail`` and ``cgroups``: what to use instead of the strongest
        this machine allows."""
        self.evaluator = evaluator
        self.sandbox = sandbox
        self.language = language
        self.jail = jail or detect()
        self.cgroups = cgroups if cgroups is not None else detect_cgroups()
        self.lost = "; ".join(filter(None, (self.jail.lost, self.cgroups.lost)))
        self.hidden = tuple(hidden)
        readable = [*python_paths(), HARNESS_ROOT / "evolve"]
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
        watchers: list[asyncio.Task[object]] = []
        limit = self.sandbox.memory_mb * 1024 * 1024
        group = self.cgroups.create(self.sandbox.max_processes, limit)
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
                # The kernel bounds the whole evaluation by what it really uses: an address
                # space limit on top only breaks what reserves more than it uses.
                memory_limited=group.memory_limited,
            )
            spec_file = workdir / ".evolve-spec.json"
            spec_file.write_bytes(spec.encode())
            # -I: no user site, no PYTHON* variables; -S: no site hooks (.pth code) at startup,
            # which can cost more than the evaluation; the harness gets our import path.
            cmd = self.jail.wrap(
                [sys.executable, "-I", "-S", str(HARNESS), str(spec_file)],
                workdir,
                network=self.sandbox.network,
                readable=self._readable,
                hidden=self.hidden,
                gpus=bool(devices),
            )
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
            # One byte over the cap: a message that long is rejected, not cut and misread.
            out, err, res = Capped(cap), Capped(cap), Capped(MESSAGE_CAP + 1)
            readers = [
                asyncio.create_task(sink.drain_fd(read_end))
                for sink, (read_end, _) in zip((out, err, res), pipes, strict=True)
            ]
            ended = asyncio.create_task(proc.wait())
            watcher = asyncio.create_task(watch_memory(group, proc.pid))
            watchers = [ended, watcher]
            done, _ = await asyncio.wait(
                (ended, watcher), timeout=call.timeout, return_when=asyncio.FIRST_COMPLETED
            )
            watcher.cancel()
            timed_out = not done
            kill_group(proc.pid)  # whatever the candidate left running
            # Over its memory limit, the evaluation dies whole: a kernel OOM kill takes one
            # process, and the rest must not go on (or report) without it.
            out_of_memory = watcher in done or group.oom_kills() > 0
            if out_of_memory:
                group.kill_all()
            await proc.wait()
            _, pending = await asyncio.wait(readers, timeout=2.0)
            if pending:  # a process that left the group still holds a pipe open
                err.note(
                    "[a process that escaped the evaluation's process group kept its "
                    "output open; output cut here]"
                )
            if out_of_memory:
                err.note(
                    f"[the evaluation went over its memory limit ({self.sandbox.memory_mb} MB) "
                    "and was killed]"
                )
            elif timed_out:
                return RawOutcome(HarnessMessage.timeout(), out.text(), err.text())
            returncode = proc.returncode
            if self.jail.kind == "bwrap" and returncode is not None and returncode > 128:
                returncode = 128 - returncode  # bwrap reports death by signal N as 128 + N
            message = HarnessMessage.received(bytes(res.data), returncode)
            if out_of_memory:  # whatever it managed to say, it died over its limit
                message = HarnessMessage.out_of_memory(message.traceback)
            return RawOutcome(message, out.text(), err.text())
        finally:
            if proc is not None:
                kill_group(proc.pid)
            group.remove()  # every process it ever held, wherever it went
            if proc is not None and proc.returncode is None:
                await proc.wait()
            for task in (*readers, *watchers):
                task.cancel()
            if readers or watchers:
                await asyncio.gather(*readers, *watchers, return_exceptions=True)
            for fd in unclosed:  # each exactly once: a number closed twice may be reused
                os.close(fd)
            shutil.rmtree(workdir, ignore_errors=True)


async def watch_memory(group: EvaluationCgroup, root: int) -> None:
    """Return once the evaluation (the process ``root`` and all it started) has gone over
    its memory limit; never, if it stays under. Where the kernel holds the limit the check
    reads one small file, done in place; summing resident memory over ``/proc`` is done in
    a thread. Checks start one period in: most evaluations end before any is needed."""
    while True:
        await asyncio.sleep(WATCH_SECONDS)
        if group.memory_limited:
            over = group.over_memory(root)
        else:
            over = await asyncio.to_thread(group.over_memory, root)
        if over:
            return
