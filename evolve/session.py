"""Start, resume, replay or fork a run, and drive it to its end: the one place that
assembles the problem, the store, the sandbox and the models around the search.

``evolve run`` (``cli/run_cmd.py``) and ``evolve.run()`` (``api.py``) both go through
``Session.open`` and ``Session.drive``, so the same problem, seed and answers give the same
run from either. Settings are named in error messages the caller's way (``--seed`` on the
command line, ``seed=`` in Python); everything else is shared.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import tomllib
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from evolve.core.status import RunStatus
from evolve.errors import UserError
from evolve.evaluation.executor import SandboxExecutor, build_executor
from evolve.events import Listener, RunFinished
from evolve.llm.ensemble import Ensemble, build_ensemble, client_kind, resolve_models
from evolve.llm.replay import Recording, ReplayClient
from evolve.llm.retry import Sleep, no_sleep, real_sleep
from evolve.novelty import from_config
from evolve.novelty.screen import LiveScreen, RecordedScreen, Screen
from evolve.problem import Problem, load_problem, problem_from_config, set_dotted, validate_config
from evolve.search.notes import Notes, notes_writer
from evolve.search.runner import Runner
from evolve.store.store import Store, resolve_db_url

SETTINGS: dict[str, str] = {
    "iterations": "search.iterations",
    "seed": "search.seed",
    "islands": "search.islands",
    "max_in_flight": "search.max_in_flight",
    "target_score": "search.target_score",
    "temperature": "llm.temperature",
    "budget_usd": "llm.budget_usd",
    "sandbox": "sandbox.backend",
}
"""The run settings a caller may give (a flag, a keyword argument) and the problem key each
one overrides; ``models`` overrides ``llm.models``."""

Spell = Callable[..., str]
"""How the caller writes a setting in a message: ``spell("seed")`` is ``--seed`` or ``seed``,
``spell("resume", "RUN_ID")`` is ``--resume RUN_ID`` or ``resume=RUN_ID``."""


def cli_spelling(name: str, value: str = "") -> str:
    if name == "problem":
        return "PROBLEM"
    flag = "--" + name.replace("_", "-")
    return f"{flag} {value}" if value else flag


def python_spelling(name: str, value: str = "") -> str:
    name = {"model": "models"}.get(name, name)
    return f"{name}={value}" if value else name


def parse_model(spec: str, spell: Spell = cli_spelling) -> dict[str, Any]:
    """``SPEC`` or ``SPEC@WEIGHT`` -> a model table."""
    name, sep, weight = spec.rpartition("@")
    if sep:
        try:
            value = float(weight)
        except ValueError:
            return {"name": spec}
        if value <= 0:
            raise UserError(f"{spell('model', spec)}: the weight after @ must be positive")
        return {"name": name, "weight": value}
    return {"name": spec}


def overrides(
    settings: Mapping[str, Any],
    models: Sequence[str] = (),
    spell: Spell = cli_spelling,
    sets: Sequence[str] = (),
) -> dict[str, Any]:
    """Dotted problem keys -> values, for the settings given (``None``: not given), and
    ``KEY=VALUE`` settings of any key (``--set llm.failures=0``), applied last."""
    out = {SETTINGS[k]: v for k, v in settings.items() if v is not None}
    if models:
        out["llm.models"] = [parse_model(m, spell) for m in models]
    out.update(parse_set(s, spell) for s in sets)
    return out


def parse_set(text: str, spell: Spell = cli_spelling) -> tuple[str, Any]:
    """``KEY=VALUE`` -> (dotted key, value): the value read as TOML (``0``, ``true``,
    ``"mixed"``, ``[1, 2]``), else taken as a plain string (``mixed``)."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part.isidentifier() for part in key.split(".")):
        raise UserError(
            f"{spell('set', text)}: write SECTION.KEY=VALUE, e.g. {spell('set', 'llm.failures=0')}"
        )
    try:
        return key, tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        return key, raw.strip()


@dataclass(frozen=True)
class Start:
    """How a run begins: a new run of ``problem`` (a problem.toml, its folder or a bundled
    name), or from a recorded run (resume it, replay its answers, or fork it at ``at``)."""

    problem: str | None = None
    resume: str | None = None
    replay: str | None = None
    fork: str | None = None
    at: int | None = None

    def check(self, spell: Spell) -> None:
        """One clear line for a combination that makes no sense."""
        sources = [spell(n) for n in ("resume", "replay", "fork") if getattr(self, n)]
        if len(sources) > 1:
            raise UserError(f"give only one of {' and '.join(sources)}")
        if self.at is not None and self.fork is None:
            raise UserError(f"{spell('at', 'ITERATION')} goes with {spell('fork', 'RUN_ID')}")
        if self.problem is not None and sources:
            raise UserError(
                f"{sources[0]} takes the problem from the recorded run: "
                f"drop the {spell('problem')} argument"
            )
        if self.problem is None and not sources:
            raise UserError(
                f"give a {spell('problem')} (a problem.toml, its folder or a bundled name) "
                f"or {spell('resume', 'RUN_ID')}"
            )
        if self.fork is not None:
            if self.at is None:
                raise UserError(
                    f"{spell('fork', 'RUN_ID')} needs {spell('at', 'ITERATION')} "
                    "(the first iteration to redo)"
                )
            if self.at < 1:
                raise UserError(
                    f"{spell('at')} must be 1 or more (iteration 0 is the initial program)"
                )


class Session:
    """A run ready to go: its problem, database row, models and sandbox."""

    def __init__(
        self,
        problem: Problem,
        store: Store,
        run_id: str,
        ensemble: Ensemble,
        executor: SandboxExecutor,
        notice: str = "",
        sleep: Sleep = real_sleep,
        screen: Screen | None = None,
        notes: Notes | None = None,
    ) -> None:
        self.problem = problem
        self.screen = screen
        """The novelty screen (``[novelty]``), if the run has one."""
        self.notes = notes or Notes(ensemble.members[0])
        """Who writes the run's notes (``[notes]``), or a replay's recorded notes."""
        self.store = store
        self.run_id = run_id
        self.ensemble = ensemble
        self.executor = executor
        self.notice = notice
        """Which model the run uses when the problem names none, and how to do better."""
        self.sleep = sleep

    @property
    def weaker(self) -> str:
        """What the sandbox could not do on this machine ('' when nothing)."""
        return self.executor.backend.lost

    @classmethod
    def open(
        cls,
        start: Start,
        *,
        db: str | None = None,
        settings: Mapping[str, Any] | None = None,
        models: Sequence[str] = (),
        spell: Spell = cli_spelling,
        sets: Sequence[str] = (),
    ) -> Session:
        """Check the request, load (or recover) the problem with ``settings`` (and the
        ``KEY=VALUE`` ``sets``) applied, build the models and the sandbox, and create (or
        reopen) the run's row. Bad input is a ``UserError`` before any run is created."""
        start.check(spell)
        changes = overrides(settings or {}, models, spell, sets)
        recorded = start.resume or start.replay or start.fork
        store = Store(resolve_db_url(db), must_exist=recorded is not None)
        clients = None
        sleep = real_sleep
        run_id = ""
        screen: Screen | None = None
        notes: Notes | None = None
        if start.resume is not None or start.fork is not None:
            run_id, problem = _recorded_problem(store, start.resume or start.fork, changes, spell)
            config = problem.config.model_dump(mode="json")
            if start.fork is not None:
                assert start.at is not None  # Start.check
                run_id = store.fork_run(run_id, start.at, config)
            else:
                store.update_run_config(run_id, config)
        elif start.replay is not None:
            if models:
                raise UserError(
                    f"{spell('replay')} uses the recorded run's models: drop {spell('model')}"
                )
            source_id, problem = _recorded_problem(store, start.replay, changes, spell)
            recording = Recording(source_id, store.llm_calls(source_id))
            specs = [m.name for m in resolve_models(problem.config.llm)[0]]
            clients = {spec: ReplayClient(spec, client_kind(spec), recording) for spec in specs}
            sleep = no_sleep  # the recorded faults are replayed without their waits
            if problem.config.novelty.enabled:  # decided as recorded, measuring nothing
                screen = RecordedScreen(list(recording.calls.values()), _reask(problem))
            notes = Notes(None, tuple(store.notes(source_id)))
            run_id = _create_run(store, problem, origin=f"replay:{source_id}")
        else:
            assert start.problem is not None  # Start.check
            problem = load_problem(start.problem, changes)
        notice = "" if clients is not None else resolve_models(problem.config.llm)[1]
        # Models and sandbox before the run's row: a missing API key or an unusable
        # sandbox is an error that leaves no run behind.
        ensemble = build_ensemble(problem.config.llm, clients)
        executor = build_executor(problem, hidden=store.files())
        if screen is None:
            check = from_config(
                problem.config.novelty, problem.language, timeout=problem.config.llm.timeout
            )
            screen = LiveScreen(check, _reask(problem)) if check is not None else None
        notes = notes or Notes(notes_writer(problem, ensemble))
        run_id = run_id or _create_run(store, problem)
        return cls(problem, store, run_id, ensemble, executor, notice, sleep, screen, notes)

    async def drive(self, listener: Listener | None = None) -> RunFinished:
        """Run the search to its end (once). Stopped from outside (Ctrl-C before the
        search's own handling, a cancelled task) the run is recorded as interrupted and the
        exception goes on; every committed candidate stays, and the run can be resumed."""
        runner = Runner(
            self.problem,
            self.store,
            self.executor,
            self.ensemble,
            self.run_id,
            listener=listener,
            sleep=self.sleep,
            screen=self.screen,
            notes=self.notes,
        )
        try:
            return await runner.run()
        except BaseException as exc:
            self._record_stop(exc)
            raise
        finally:
            await self.ensemble.close()  # the embedded model's process
            await self.executor.close()  # warm containers and the like
            if self.screen is not None:
                await self.screen.close()  # the embedding model's process, the judge's client

    def run(self, listener: Listener | None = None) -> RunFinished:
        """``drive`` from synchronous code. Under an event loop that is already running
        (a notebook's) the search gets a loop and a thread of its own; Ctrl-C then cancels
        it (in-flight candidates are abandoned, to be redone on resume) and, once the run
        is recorded as interrupted, raises ``KeyboardInterrupt`` here."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.drive(listener))
        return _in_own_thread(lambda: self.drive(listener))

    def _record_stop(self, exc: BaseException) -> None:
        """Why the run stopped, where the search could not say it itself."""
        if self.store.run(self.run_id).status != RunStatus.RUNNING:
            return
        if isinstance(exc, KeyboardInterrupt | asyncio.CancelledError):
            status, message = RunStatus.INTERRUPTED, "interrupted; in-flight candidates abandoned"
        else:
            status, message = RunStatus.FAILED, f"stopped on {type(exc).__name__}: {exc}"
        self.store.set_run_status(self.run_id, status, message)


def _reask(problem: Problem) -> bool:
    return problem.config.novelty.action == "reask"


def _create_run(store: Store, problem: Problem, origin: str = "") -> str:
    config = problem.config.model_dump(mode="json")
    return store.create_run(
        problem.name, str(problem.file), config, problem.config.search.seed, origin=origin
    )


def _recorded_problem(
    store: Store, run: str | None, changes: dict[str, Any], spell: Spell
) -> tuple[str, Problem]:
    """A recorded run's full id and its problem: its stored settings, with ``changes``."""
    assert run is not None
    info = store.run(run)
    if "search.seed" in changes and changes["search.seed"] != info.seed:
        raise UserError(
            f"{spell('seed')} cannot change when resuming run {info.id} (its seed is {info.seed})"
        )
    raw = dict(info.config)
    for dotted, value in changes.items():
        set_dotted(raw, dotted, value)
    file = Path(info.problem_path)
    if not file.is_file():
        raise UserError(f"run {info.id}: its problem file {file} no longer exists")
    return info.id, problem_from_config(validate_config(raw, file), file)


T = TypeVar("T")


def _in_own_thread(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine on a loop of its own in a worker thread, for a caller whose thread
    already runs a loop; Ctrl-C in the caller cancels it and waits for its cleanup."""
    ready, done = threading.Event(), threading.Event()
    box: dict[str, Any] = {}

    async def main() -> T:
        box["loop"], box["task"] = asyncio.get_running_loop(), asyncio.current_task()
        ready.set()
        return await make()

    def target() -> None:
        try:
            box["result"] = asyncio.run(main())
        except BaseException as exc:  # noqa: BLE001 -- re-raised in the caller's thread
            box["error"] = exc
        finally:
            ready.set()
            done.set()

    threading.Thread(target=target, name="evolve-run", daemon=True).start()
    interrupted = False
    # Not Thread.join: a join that Ctrl-C interrupts can report the thread ended while it
    # still runs (CPython before 3.13); an Event's wait stays consistent.
    while not done.is_set():
        try:
            done.wait(0.2)
        except KeyboardInterrupt:
            # Later Ctrl-Cs only wait: the cleanup (ending the sandbox's processes and the
            # model's) is short, and leaving it half done would leave them running.
            if not interrupted:
                interrupted = True
                ready.wait()
                if "loop" in box:
                    with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                        box["loop"].call_soon_threadsafe(box["task"].cancel)
    if "error" in box:
        if isinstance(box["error"], asyncio.CancelledError):
            raise KeyboardInterrupt
        raise box["error"]
    return box["result"]
