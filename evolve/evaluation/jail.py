"""Linux namespaces around an evaluation: what a candidate can see and reach.

Strongest first, whichever this machine allows:

* ``bwrap`` (bubblewrap): new user, PID, IPC, UTS, cgroup and network namespaces; no
  capabilities, even when the engine runs as root; the
  system read-only; a fresh ``/tmp``; the user's home and the engine's working directory
  (the project, where the run database usually is) replaced by empty folders, with only
  what the evaluation needs put back, read-only (the Python installation, the import
  path, the problem's folder); the run database masked even there; one writable scratch
  folder. Everything in the PID namespace dies with it, daemons included.
* ``unshare``: no network, nothing else (the files the user can read stay readable).
* ``none``: rlimits, a scrubbed environment and process-group kills only.

``lost`` says in one line what a weaker jail gives up, for the run's warning.

Beside the jail, each evaluation gets a cgroup of its own: ``evolve.evaluation.cgroups``.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Jail:
    kind: str
    lost: str = ""

    def wrap(
        self,
        cmd: list[str],
        workdir: Path,
        *,
        network: bool,
        readable: Iterable[Path] = (),
        hidden: Iterable[Path] = (),
        gpus: bool = False,
    ) -> list[str]:
        """``cmd`` run inside this jail, with ``workdir`` writable, ``readable`` paths
        visible read-only, ``hidden`` files masked, and with ``gpus`` the GPU device
        files (which GPUs the evaluation may use is CUDA_VISIBLE_DEVICES' business)."""
        if self.kind == "bwrap":
            args = _bwrap_args(workdir, network, readable, hidden)
            if gpus:
                for device in gpu_device_files():
                    args += ["--dev-bind", str(device), str(device)]
            return [*args, "--", *cmd]
        if self.kind == "unshare" and not network:
            return ["unshare", "--net", "--", *cmd]
        return cmd


def _bwrap_args(
    workdir: Path, network: bool, readable: Iterable[Path], hidden: Iterable[Path]
) -> list[str]:
    args = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    back = {p.resolve() for p in readable if p.exists()}
    masked = {
        place.resolve()
        for place in (Path("/tmp"), Path("/var/tmp"), Path("/dev/shm"), Path.home(), Path.cwd())
        if place.resolve() != Path("/") and place.is_dir() and place.resolve() not in back
    }
    # Deeper mounts go on top of shallower ones: apply both kinds by depth, so that a
    # masked folder inside a put-back one stays masked, and the other way round. Only what
    # lies under a mask needs putting back.
    mounts = [(p, "--tmpfs") for p in masked]
    mounts += [(p, "--ro-bind") for p in back if any(p.is_relative_to(m) for m in masked)]
    for path, op in sorted(mounts, key=lambda m: (len(m[0].parts), str(m[0]))):
        args += [op, str(path)] if op == "--tmpfs" else [op, str(path), str(path)]
    args += ["--bind", str(workdir), str(workdir), "--chdir", str(workdir)]
    for path in hidden:
        if path.exists():
            args += ["--ro-bind", "/dev/null", str(path)]
    # --cap-drop ALL: run by root, bwrap keeps every capability inside the jail, and with
    # CAP_SYS_PTRACE / CAP_DAC_OVERRIDE a candidate could read or write its evaluator's
    # memory and pipes (evolve.sdk.runner makes the evaluator non-dumpable) or any file.
    args += ["--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL"]
    if network:
        args.append("--share-net")
    return args


def gpu_device_files() -> list[Path]:
    """NVIDIA's device files (and DRM render nodes) on this machine."""
    found = sorted(Path("/dev").glob("nvidia*"))
    if Path("/dev/dri").is_dir():
        found += sorted(Path("/dev/dri").iterdir())
    return found


def python_paths() -> list[Path]:
    """What a Python child needs to start and import: the installation and import path."""
    places = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(sys.executable)}
    places.update(p for p in sys.path if p)
    return [Path(p) for p in places if os.path.isdir(p)]


@functools.cache
def detect() -> Jail:
    """The strongest jail that works here (checked once per process by running one)."""
    probe = Jail("bwrap").wrap(["true"], Path("/"), network=False)
    if shutil.which("bwrap") and command_works(probe):
        return Jail("bwrap")
    lost = (
        "no bubblewrap here (apt-get install bubblewrap), so candidates can read what the "
        "user can read and see other processes"
    )
    if shutil.which("unshare") and command_works(["unshare", "--net", "--", "true"]):
        return Jail("unshare", lost)
    return Jail(
        "none",
        "neither bubblewrap nor `unshare --net` works here: candidates can reach the "
        "network and read what the user can read",
    )


def command_works(cmd: list[str]) -> bool:
    try:
        return subprocess.run(cmd, capture_output=True, timeout=20, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False
