"""A child process that loads a model with llama.cpp and answers over two pipes
(length-prefixed JSON, one request and one answer at a time): the embedded chat model's
(``evolve.llm.local_worker``) and the embedding model's (``evolve.novelty.embed_worker``).
llama.cpp is native code: when it crashes it takes only that process down, and the caller
gets ``WorkerDied`` with how the process ended and its last words."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
from typing import Any

from evolve.llm.local_worker import read_message, write_message
from evolve.sdk.procs import describe_exit


class WorkerDied(Exception):
    """The worker process ended without answering."""


class WorkerProcess:
    """One worker process (``python -m MODULE``) and the two pipes to it. ``setup`` is its
    first message, answered once the model is loaded; ``what`` names it in errors."""

    def __init__(self, module: str, setup: dict[str, Any], what: str) -> None:
        self.what = what
        requests_r, self._requests = os.pipe()
        self._answers, answers_w = os.pipe()
        self._log = tempfile.TemporaryFile(prefix="evolve-worker-")  # noqa: SIM115 - the worker's lifetime
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", module, str(requests_r), str(answers_w)],
                pass_fds=(requests_r, answers_w),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=self._log,
                start_new_session=True,  # Ctrl-C is the engine's to handle, not the model's
            )
        finally:
            os.close(requests_r)
            os.close(answers_w)
        try:
            self.ask(setup)
        except WorkerDied:
            self.close()
            raise

    def ask(self, message: dict[str, Any]) -> dict[str, Any]:
        try:
            write_message(self._requests, message)
            answer = read_message(self._answers)
        except OSError:  # EPIPE: it is gone
            answer = None
        if answer is None:
            raise WorkerDied(self.how_it_ended())
        return answer

    def how_it_ended(self) -> str:
        try:
            code = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self._log.seek(0)
        lines = self._log.read().decode("utf-8", "replace").splitlines()
        tail = [line.strip() for line in lines if line.strip()][-1:]
        said = f"; its last words: {tail[0][:300]}" if tail else ""
        return f"{self.what} {describe_exit(code, limits=False)}{said}"

    def close(self) -> None:
        for fd in (self._requests, self._answers):
            with contextlib.suppress(OSError):
                os.close(fd)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._log.close()
