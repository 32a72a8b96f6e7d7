"""Processes, as seen from /proc: how one ended, when one started, which are one's children,
and killing a process group. Standard library only: the harness and the function runner
use it inside the sandbox, the engine's backends outside it."""

from __future__ import annotations

import contextlib
import os
import signal


def _stat_fields(pid: int | str) -> list[bytes]:
    """The fields of /proc/PID/stat after the command name (raises OSError, IndexError)."""
    with open(f"/proc/{pid}/stat", "rb") as fh:
        return fh.read().rsplit(b")", 1)[1].split()


def start_ticks(pid: int | str = "self") -> str:
    """A process's start time in clock ticks after boot ('' if it is gone)."""
    try:
        return _stat_fields(pid)[19].decode()
    except (OSError, IndexError):
        return ""


def age() -> float:
    """Seconds since this process started (from /proc; 0 where that cannot be read)."""
    try:
        ticks = int(start_ticks())
        with open("/proc/uptime", encoding="ascii") as fh:
            uptime = float(fh.read().split()[0])
        return max(0.0, uptime - ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return 0.0


def describe_exit(code: int | None, limits: bool = True) -> str:
    """How a process ended, in words (negative codes are signals). ``limits``: name the
    sandbox limit a signal may mean (not for processes that run under none)."""
    if code is None:
        return "ended"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = " (memory limit?)" if name in ("SIGKILL", "SIGSEGV") else ""
        hint = " (CPU time limit)" if name == "SIGXCPU" else hint
        return f"was killed by {name}{hint if limits else ''}"
    return f"exited with code {code}"


def kill_group(pgid: int) -> None:
    """SIGKILL a whole process group, if anything of it is left."""
    with contextlib.suppress(ProcessLookupError, PermissionError):  # already gone
        os.killpg(pgid, signal.SIGKILL)


def children() -> set[int]:
    """Processes whose parent is this one (read from /proc; empty where there is none)."""
    me, found = os.getpid(), set()
    try:
        entries = os.listdir("/proc")
    except OSError:
        return found
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            fields = _stat_fields(entry)
        except (OSError, IndexError):
            continue
        if len(fields) > 1 and int(fields[1]) == me:
            found.add(int(entry))
    return found


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` in the process tree (one pass over /proc)."""
    parents: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return set()
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            parents.setdefault(int(_stat_fields(entry)[1]), []).append(int(entry))
        except (OSError, IndexError, ValueError):
            continue
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), ()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def resident_bytes(pid: int) -> int:
    """The memory a process really holds, in bytes: its proportional set size (pages it
    shares with others, after a fork say, counted once across them all), else its resident
    set size; 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as fh:
            for line in fh:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        with open(f"/proc/{pid}/statm", "rb") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0
