"""Containers for the ``docker`` backend: the engine connection, locked-down containers,
the warm pool, and the removal of containers a crashed engine left behind.

Every container is labelled with its owner (``evolve.owner``: the engine's pid, its start
time and host), so that a backend starting up removes those whose owner is gone
(``reap_orphans``). A container serves exactly one evaluation and is then removed; the
``WarmPool`` keeps a few started ahead so that an evaluation does not wait for a start.
All calls here block (the Docker SDK is synchronous): the backend runs them off the event
loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import shutil
import socket
import threading
import uuid
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

import docker
import docker.errors
from docker.models.containers import Container
from docker.types import DeviceRequest, Mount

from evolve.config import SandboxConfig
from evolve.errors import UserError
from evolve.sdk.procs import start_ticks

OWNER = "evolve.owner"
"""Label: the pid of the engine process that made the container."""
OWNER_START = "evolve.owner-start"
"""Label: that process's start time (clock ticks after boot), so a reused pid is not it."""
OWNER_HOST = "evolve.owner-host"
"""Label: the host of that process (containers of other machines are never touched)."""
DEVICES = "evolve.devices"
"""Label: the GPUs the container was given (comma-separated; empty for none)."""

SCRATCH = "/scratch"
"""The container's only writable place: a tmpfs, the evaluation's home and working folder."""
SANDBOX_USER = (10001, 10001)
"""The images' unprivileged ``sandbox`` user: whom evaluations run as when the engine is root."""


def container_user() -> tuple[int, int]:
    """(uid, gid) evaluations run as: the engine's own, or ``sandbox`` if that is root
    (never root inside the container)."""
    uid, gid = os.getuid(), os.getgid()
    return SANDBOX_USER if uid == 0 else (uid, gid)


def check_readable(path: Path, user: tuple[int, int]) -> None:
    """A UserError unless ``user`` may read ``path`` (and list it, if a folder) by its mode
    bits: what a bind mount shows the container is the host's ownership and modes."""
    info = path.stat()
    need = 0o5 if path.is_dir() else 0o4
    if user[0] == info.st_uid:
        bits = info.st_mode >> 6
    elif user[1] == info.st_gid:
        bits = info.st_mode >> 3
    else:
        bits = info.st_mode
    if bits & need != need:
        raise UserError(
            f"sandbox.backend = 'docker': {path} (mode {info.st_mode & 0o777:o}) is not "
            f"readable by the container's user (uid {user[0]}): chmod o+rX it, or run "
            "evolve as its owner"
        )


def connect() -> docker.DockerClient:
    """A client of the local docker engine, or a UserError saying how to start one."""
    try:
        client = docker.from_env(timeout=60)
        client.ping()
    except docker.errors.DockerException as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise UserError(
            f"sandbox.backend = 'docker': no docker engine answers ({first}): start dockerd "
            "(e.g. `dockerd > /tmp/dockerd.log 2>&1 &`) or use --sandbox process"
        ) from None
    return client


def image_path(client: docker.DockerClient, image: str) -> str:
    """The image's PATH; a UserError if the image is not there."""
    try:
        found = client.images.get(image)
    except docker.errors.ImageNotFound:
        raise UserError(
            f"sandbox.docker.image {image!r} not found: build it with sandbox/build_image.sh"
        ) from None
    except docker.errors.APIError as exc:
        raise UserError(f"sandbox.docker.image {image!r}: {exc.explanation or exc}") from None
    for item in found.attrs.get("Config", {}).get("Env") or ():
        if item.startswith("PATH="):
            return item[len("PATH=") :]
    return "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def gpu_support(client: docker.DockerClient) -> str:
    """How this engine can give a container NVIDIA GPUs, in a few words (empty: it cannot,
    and a GPU evaluation fails with the reason): an ``nvidia`` runtime, the NVIDIA
    Container Toolkit's hook (which the engine uses for a GPU device request), or CDI
    devices it discovered."""
    info = client.info()
    found = []
    if "nvidia" in (info.get("Runtimes") or {}):
        found.append("nvidia runtime")
    # The engine runs here (a local socket): it finds the hook on the same PATH.
    if shutil.which("nvidia-container-runtime-hook"):
        found.append("nvidia-container-runtime-hook")
    cdi = [
        d.get("ID", "")
        for d in info.get("DiscoveredDevices") or ()
        if str(d.get("ID", "")).startswith("nvidia.com/gpu")
    ]
    if cdi:
        found.append("CDI " + ", ".join(cdi))
    return "; ".join(found)


def owner_labels() -> dict[str, str]:
    """The labels that name this engine process as a container's owner."""
    pid = os.getpid()
    return {OWNER: str(pid), OWNER_START: start_ticks(pid), OWNER_HOST: socket.gethostname()}


def _orphaned(labels: dict[str, str]) -> bool:
    if labels.get(OWNER_HOST) != socket.gethostname():
        return False
    try:
        pid = int(labels.get(OWNER, ""))
    except ValueError:
        return True
    return start_ticks(pid) != labels.get(OWNER_START)


def reap_orphans(client: docker.DockerClient) -> list[str]:
    """Remove every evolve container of this host whose owner process is gone; their ids."""
    removed = []
    for found in client.api.containers(all=True, filters={"label": OWNER}):
        if _orphaned(found.get("Labels") or {}):
            force_remove(client, found["Id"])
            removed.append(found["Id"])
    return removed


def force_remove(client: docker.DockerClient, container_id: str) -> None:
    """Kill and remove a container, if it is still there."""
    with contextlib.suppress(docker.errors.NotFound):
        try:
            client.api.remove_container(container_id, force=True)
        except docker.errors.APIError as exc:
            if exc.status_code != 409:  # 409: its removal is already under way
                raise


class Containers:
    """Makes and removes the evaluation containers of one backend, and knows every one that
    is still there (``live``), so that none outlives the backend."""

    def __init__(
        self,
        client: docker.DockerClient,
        sandbox: SandboxConfig,
        mounts: list[Mount],
        user: tuple[int, int],
    ) -> None:
        self.client = client
        self.sandbox = sandbox
        self.mounts = mounts
        self.user = f"{user[0]}:{user[1]}"
        self.live: set[str] = set()
        self._lock = threading.Lock()
        self._removals: set[concurrent.futures.Future[None]] = set()
        self._remover = concurrent.futures.ThreadPoolExecutor(
            max_workers=4, thread_name_prefix="evolve-docker-remove"
        )

    def options(self, devices: list[int]) -> dict:
        """The container's settings: no network, read-only root, one tmpfs, limits, no
        capabilities, an unprivileged user, the GPUs leased (and only then a request)."""
        sandbox = self.sandbox
        memory = f"{sandbox.memory_mb}m"
        options: dict = {
            "image": sandbox.docker.image,
            "command": ["sleep", "infinity"],
            "name": f"evolve-{os.getpid()}-{uuid.uuid4().hex[:12]}",
            "labels": {**owner_labels(), DEVICES: ",".join(str(d) for d in devices)},
            "user": self.user,
            "working_dir": SCRATCH,
            "network_mode": "bridge" if sandbox.network else "none",
            "read_only": True,
            "tmpfs": {SCRATCH: f"rw,nosuid,nodev,size={memory},mode=1777"},
            "mem_limit": memory,
            "memswap_limit": memory,
            "nano_cpus": sandbox.cpus * 1_000_000_000,
            "pids_limit": sandbox.max_processes,
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges"],
            "ipc_mode": "private",
            "mounts": self.mounts,
            "log_config": docker.types.LogConfig(type="none"),
            "detach": True,
        }
        if devices:
            options["device_requests"] = [
                DeviceRequest(device_ids=[str(d) for d in devices], capabilities=[["gpu"]])
            ]
        return options

    def create(self, devices: list[int]) -> Container:
        """A created (not yet started) container for one evaluation."""
        container = self.client.containers.create(**self.options(devices))
        with self._lock:
            self.live.add(container.id)
        return container

    def start(self, devices: list[int]) -> Container:
        """A started container, ready to run the harness; removed again if it cannot start."""
        container = self.create(devices)
        try:
            container.start()
        except docker.errors.DockerException:
            self.remove(container.id)
            raise
        return container

    def remove(self, container_id: str) -> None:
        """Kill and remove a container (every process in it dies with it)."""
        force_remove(self.client, container_id)
        with self._lock:
            self.live.discard(container_id)

    def remove_later(self, container_id: str) -> None:
        """Kill and remove a container on a thread of its own, not waiting for it
        (``remove_all`` does)."""
        try:
            future = self._remover.submit(self.remove, container_id)
        except RuntimeError:  # the interpreter is exiting: remove it now
            self.remove(container_id)
            return
        with self._lock:
            self._removals.add(future)
        future.add_done_callback(self._removed)

    def _removed(self, future: concurrent.futures.Future[None]) -> None:
        with self._lock:
            self._removals.discard(future)

    def remove_all(self) -> None:
        """Remove every container still there, once the removals under way are done."""
        with self._lock:
            waiting = list(self._removals)
        concurrent.futures.wait(waiting)
        with self._lock:
            left = list(self.live)
        # Plain threads: this also runs at interpreter exit, when executors take no work.
        removers = [threading.Thread(target=self.remove, args=(cid,)) for cid in left]
        for thread in removers:
            thread.start()
        for thread in removers:
            thread.join()


T = TypeVar("T")


class WarmPool(Generic[T]):
    """``size`` things (containers, harnesses waiting in them) started ahead, each handed
    out once; every one taken is replaced by a new start in the background. Starts run on
    the pool's own threads, so the pool outlives any one event loop (each ``asyncio.run``
    of a caller may take from it)."""

    def __init__(self, start: Callable[[], T], discard: Callable[[T], None], size: int) -> None:
        self._start = start
        self._discard = discard
        self.size = size
        self._threads = concurrent.futures.ThreadPoolExecutor(
            max_workers=max(1, size), thread_name_prefix="evolve-docker-warm"
        )
        self._ready: deque[concurrent.futures.Future[T]] = deque()
        self._lock = threading.Lock()
        self._closed = False

    def fill(self) -> None:
        """Start containers until ``size`` are ready or on their way."""
        with self._lock:
            while not self._closed and len(self._ready) < self.size:
                self._ready.append(self._threads.submit(self._start))

    async def take(self) -> T:
        """A started one of its own for one evaluation (raises what starting raised)."""
        if self.size == 0:
            return await asyncio.to_thread(self._start)
        self.fill()
        with self._lock:
            future = self._ready.popleft()
        self.fill()
        try:
            return await asyncio.shield(asyncio.wrap_future(future))
        except asyncio.CancelledError:  # nobody will use it: remove it once it is there
            future.add_done_callback(self._discard_started)
            raise

    def _discard_started(self, future: concurrent.futures.Future[T]) -> None:
        if not future.cancelled() and future.exception() is None:
            self._discard(future.result())

    def close(self) -> list[T]:
        """Stop starting; those that were started ahead (for removal)."""
        with self._lock:
            self._closed = True
            pending, self._ready = list(self._ready), deque()
        self._threads.shutdown(wait=True)
        return [f.result() for f in pending if not f.cancelled() and f.exception() is None]
