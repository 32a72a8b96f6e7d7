"""Cgroups around an evaluation: one per evaluation, bounding its processes together.

A fork bomb stops at ``sandbox.max_processes`` (RLIMIT_NPROC does not bind root) and all
the evaluation's processes share ``sandbox.memory_mb`` of memory, no swap: cgroup v2 (one
folder with ``pids.max`` and ``memory.max``), or cgroup v1's pids and memory hierarchies.
``cgroups()`` finds out once per engine process where such folders can be made and whether
the kernel really enforces a memory limit there (it runs a trial program over one); where
it cannot, the process backend watches the evaluation's resident memory instead
(``over_memory``) and ``Cgroups.lost`` says so in one line. The cgroup also lists every
process to kill at the end, wherever it went.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from evolve.evaluation.jail import command_works
from evolve.sdk.procs import descendants, resident_bytes

CGROUP_FS = Path("/sys/fs/cgroup")
WATCH_SECONDS = 0.05
"""How often an evaluation's memory is looked at: its cgroup's OOM kills where the kernel
holds the limit, else (the backstop) its processes' resident memory."""

_PROBE_MB = 32
_PROBE = "chunks = [b'\\x01' * (8 << 20) for _ in range(16)]"
"""The trial program: 128 MB, every page written, under a 32 MB limit."""


@dataclass(frozen=True)
class CgroupParent:
    """The folder under which one controller's per-evaluation cgroups are made: in that
    controller's own cgroup v1 hierarchy (version 1), or in the unified hierarchy (2)."""

    version: int
    path: Path


@dataclass(frozen=True)
class Cgroups:
    """What cgroups evaluations can have on this machine: where pids and memory cgroups are
    made (None: nowhere). ``memory`` is set only where the kernel was seen to hold a cgroup
    to its limit; ``why_not`` says why it is not, then."""

    pids: CgroupParent | None = None
    memory: CgroupParent | None = None
    why_not: str = ""

    @property
    def lost(self) -> str:
        """What an evaluation's memory bound gives up here, in one line ('' if nothing)."""
        if self.memory is not None:
            return ""
        if not Path("/proc/self/statm").exists():
            return f"{self.why_not} and there is no /proc: memory is bounded per process only"
        unseen = (
            ""
            if self.pids
            else " (a process that leaves the evaluation's process tree is not counted)"
        )
        return (
            f"{self.why_not}, so an evaluation's memory is bounded by a watcher that adds up "
            f"its processes' resident memory every {WATCH_SECONDS * 1000:.0f} ms{unseen} and "
            "kills it over sandbox.memory_mb: a fast allocation can pass the limit for a moment"
        )

    def create(self, max_processes: int, memory_bytes: int) -> EvaluationCgroup:
        """A new cgroup for one evaluation, limited to ``max_processes`` processes and
        ``memory_bytes`` of memory (no swap). A controller whose folder cannot be made now
        is left out: the evaluation runs without it (``memory_limited`` says so)."""
        name = f"evolve-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        wanted: dict[CgroupParent, list[str]] = {}
        for controller, parent in (("pids", self.pids), ("memory", self.memory)):
            if parent is not None:  # in v2 both share one folder: a process is in one cgroup
                wanted.setdefault(parent, []).append(controller)
        folders = []
        for parent, controllers in wanted.items():
            folder = _Folder(parent.version, parent.path / name, tuple(controllers))
            if folder.make(max_processes, memory_bytes):
                folders.append(folder)
        return EvaluationCgroup(folders, memory_bytes)


@dataclass(frozen=True)
class _Folder:
    version: int
    path: Path
    controllers: tuple[str, ...]

    def limits(self, max_processes: int, memory_bytes: int) -> list[tuple[str, int, bool]]:
        """(file, value, whether the file must exist). A file that exists must take its
        value: one that would let swap in is not skipped."""
        found = []
        if "pids" in self.controllers:
            found.append(("pids.max", max_processes, True))
        if "memory" in self.controllers and self.version == 2:
            found += [
                ("memory.max", memory_bytes, True),
                ("memory.swap.max", 0, False),  # absent where swap is not accounted
                ("memory.oom.group", 1, False),  # an OOM kill takes the whole evaluation (4.19+)
            ]
        elif "memory" in self.controllers:
            found += [
                ("memory.limit_in_bytes", memory_bytes, True),
                # memory + swap; absent where swap is not accounted. After the memory limit:
                # the kernel refuses a memsw limit below it.
                ("memory.memsw.limit_in_bytes", memory_bytes, False),
            ]
        return found

    def make(self, max_processes: int, memory_bytes: int) -> bool:
        try:
            self.path.mkdir()
        except OSError:
            return False
        try:
            for name, value, required in self.limits(max_processes, memory_bytes):
                if required or (self.path / name).exists():
                    (self.path / name).write_text(str(value))
        except OSError:
            with contextlib.suppress(OSError):
                self.path.rmdir()
            return False
        return True

    def processes(self) -> set[int]:
        try:
            return {int(p) for p in (self.path / "cgroup.procs").read_text().split()}
        except (OSError, ValueError):
            return set()

    def oom_kills(self) -> int:
        """Processes the kernel killed here for going over the memory limit."""
        events = "memory.events" if self.version == 2 else "memory.oom_control"
        try:
            lines = (self.path / events).read_text().splitlines()
        except OSError:
            return 0
        for line in lines:
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return 0


class EvaluationCgroup:
    """One evaluation's cgroup: a folder in each hierarchy it uses (cgroup v2: one; v1: one
    in the pids hierarchy and one in the memory hierarchy). The harness starts inside it, so
    every process the candidate starts is counted against its limits (a fork bomb stops at
    ``max_processes``, whoever runs it: RLIMIT_NPROC does not bind root), and it lists every
    process to kill at the end, wherever it went in the process tree."""

    def __init__(self, folders: list[_Folder], memory_bytes: int) -> None:
        self.folders = tuple(folders)
        self.memory_bytes = memory_bytes

    @property
    def memory_limited(self) -> bool:
        """Whether the kernel holds the evaluation to ``memory_bytes`` (else only the
        watcher's backstop, ``over_memory``, does)."""
        return any("memory" in f.controllers for f in self.folders)

    @property
    def pids_limited(self) -> bool:
        return any("pids" in f.controllers for f in self.folders)

    def wrap(self, cmd: list[str]) -> list[str]:
        """``cmd``, started from inside the cgroup (so every descendant is in it too)."""
        if not self.folders:
            return cmd
        join = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"'
        procs = [str(f.path / "cgroup.procs") for f in self.folders]
        return ["/bin/sh", "-c", join, "evolve-cgroup", *procs, "--", *cmd]

    def processes(self) -> set[int]:
        """Every process in the cgroup now."""
        return set().union(*(f.processes() for f in self.folders))

    def oom_kills(self) -> int:
        """Processes of the evaluation the kernel killed for going over its memory limit."""
        return sum(f.oom_kills() for f in self.folders if "memory" in f.controllers)

    def over_memory(self, root: int) -> bool:
        """Whether the evaluation (the process ``root`` and all it started) has gone over its
        memory limit: where the kernel holds the limit, whether it had to kill for it; else
        whether its processes' resident memory adds up to more than the limit."""
        if self.memory_limited:
            return self.oom_kills() > 0
        members = self.processes() if self.folders else descendants(root) | {root}
        return sum(resident_bytes(pid) for pid in members) > self.memory_bytes

    def kill_all(self) -> None:
        for folder in self.folders:
            # cgroup v2 (5.14+): one write kills them all, forks in flight included
            with contextlib.suppress(OSError):
                (folder.path / "cgroup.kill").write_text("1")
        for _ in range(50):
            pids = self.processes()
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.01)

    def remove(self) -> None:
        self.kill_all()
        for folder in self.folders:
            for _ in range(100):
                try:
                    folder.path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:  # still emptying
                    time.sleep(0.02)


@functools.cache
def cgroups() -> Cgroups:
    """The cgroups evaluations can have here, found once per process: where the folders
    can be made, and whether the kernel holds a memory cgroup to its limit (a trial program
    writes four times its trial cgroup's limit and must be killed for it)."""
    parents = _parents()
    found = Cgroups(parents.get("pids"), parents.get("memory"))
    trial = found.create(16, _PROBE_MB * 1024 * 1024)
    try:
        pids = found.pids if trial.pids_limited else None
        if not trial.memory_limited:
            return Cgroups(pids, None, _NO_MEMORY_CGROUP)
        probe = trial.wrap([sys.executable, "-I", "-S", "-c", _PROBE])
        enforced = not command_works(probe) and trial.oom_kills() > 0
    finally:
        trial.remove()
    if not enforced:
        return Cgroups(pids, None, "the kernel did not hold a memory cgroup to its limit here")
    return Cgroups(pids, found.memory)


_NO_MEMORY_CGROUP = (
    "no memory cgroup can be made here (that takes root, or a cgroup v2 subtree of the "
    "user's own, e.g. under `systemd-run --user --scope`)"
)


def _parents() -> dict[str, CgroupParent]:
    """Where pids and memory cgroups can be made: in each controller's v1 hierarchy, under
    the engine's own cgroup there, else at its top; or in the unified (v2) hierarchy, in
    the nearest folder at or above the engine's own cgroup that can give both controllers
    to a child (enabling them in its ``cgroup.subtree_control`` where needed). In v2 both
    share a folder, since a process belongs to one cgroup only."""
    own = _own_cgroups()
    found: dict[str, CgroupParent] = {}
    unified = []
    for controller in ("pids", "memory"):
        v1 = CGROUP_FS / controller
        if not ((v1 / "cgroup.procs").exists() and not (v1 / "cgroup.controllers").exists()):
            unified.append(controller)
            continue
        for folder in (v1 / own.get(controller, "/").lstrip("/"), v1):
            if folder.is_dir() and os.access(folder, os.W_OK):
                found[controller] = CgroupParent(1, folder)
                break
    mount = next((m for m in (CGROUP_FS, CGROUP_FS / "unified") if _is_v2(m)), None)
    if not unified or mount is None or "" not in own:
        return found
    mine = mount / own[""].lstrip("/")
    best: tuple[list[str], Path] = ([], mount)
    for folder in (mine, *(p for p in mine.parents if p.is_relative_to(mount))):
        given = [c for c in unified if _delegates(folder, c)]
        if len(given) > len(best[0]):
            best = (given, folder)
        if len(given) == len(unified):
            break
    found.update({c: CgroupParent(2, best[1]) for c in best[0]})
    return found


def _own_cgroups() -> dict[str, str]:
    """This process's cgroup in each v1 hierarchy (by controller) and in v2 (key '')."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return {}
    own = {}
    for line in lines:
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            own[controller] = path
    return own


def _is_v2(folder: Path) -> bool:
    return (folder / "cgroup.controllers").is_file()


def _delegates(folder: Path, controller: str) -> bool:
    """Whether a cgroup made in the v2 ``folder`` can have ``controller``: it is enabled for
    the folder's children, or can be enabled now."""
    if not os.access(folder, os.W_OK):
        return False
    try:
        if controller in (folder / "cgroup.subtree_control").read_text().split():
            return True
        if controller not in (folder / "cgroup.controllers").read_text().split():
            return False
        (folder / "cgroup.subtree_control").write_text(f"+{controller}")
    except OSError:  # EBUSY: below the top, v2 lets only a folder without processes do it
        return False
    return True
