"""The notebook API: open a lineage database read-only and get its runs, programs, lineages
and LLM calls as plain objects, or, when pandas is installed, as DataFrames.

    import evolve
    db = evolve.open_db("evolve.db")
    run = db.runs()[-1]                      # RunSummary: .info, .best_score, .candidates
    best = db.best(run.info.id)[0]           # Candidate: .code, .score, .metrics, .parent_id
    chain = db.lineage(best.id)              # the initial program ... best
    df = db.programs_df(run.info.id)         # one row per candidate, one column per metric
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from evolve.core.records import Candidate, LLMCall
from evolve.store import stats
from evolve.store.reader import Reader, RunSummary
from evolve.store.store import RunInfo, resolve_db_url

if TYPE_CHECKING:
    import pandas


def open_db(db: str | Path | None = None) -> LineageDB:
    """A database by path or SQLAlchemy URL (default: ``$EVOLVE_DB`` or ./evolve.db)."""
    return LineageDB(resolve_db_url(str(db) if db is not None else None))


class LineageDB:
    """Read-only view of one lineage database. Ids may be unique prefixes."""

    def __init__(self, url: str) -> None:
        self.reader = Reader(url)
        self.url = url

    def close(self) -> None:
        self.reader.close()

    def __enter__(self) -> LineageDB:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.close()

    # plain objects --------------------------------------------------------------------
    def runs(self) -> list[RunSummary]:
        """Every run, oldest first, with counts, best score and spend."""
        return self.reader.runs()

    def run(self, run: str | None = None) -> RunInfo:
        """A run by id or prefix; the latest one by default."""
        return self.reader.run(run)

    def programs(self, run: str | None = None) -> list[Candidate]:
        """Every candidate of a run (default: the latest), in iteration order."""
        return list(self.reader.programs(self.run(run).id))

    def program(self, program_id: str) -> Candidate:
        return self.reader.program(program_id)

    def best(self, run: str | None = None, top: int = 1) -> list[Candidate]:
        return self.reader.best(self.run(run).id, top)

    def lineage(self, program_id: str) -> list[Candidate]:
        """The program and its ancestors, from the initial program to it."""
        full_id = self.reader.program(program_id).id
        return [self.reader.program(step["id"]) for step in self.reader.ancestry(full_id)]

    def calls(self, program_id: str) -> list[LLMCall]:
        """The LLM exchanges that made a program."""
        return self.reader.calls(self.reader.program(program_id).id)

    def stats(self, run: str | None = None) -> dict[str, Any]:
        """Per model, per island, MAP-Elites coverage and the bandit (as ``evolve stats``)."""
        info = self.run(run)
        return {
            "models": stats.model_stats(self.reader, info),
            "islands": stats.island_stats(self.reader, info),
            "coverage": stats.coverage(self.reader, info),
            "bandit": stats.bandit(self.reader, info),
        }

    # DataFrames -----------------------------------------------------------------------
    def runs_df(self) -> pandas.DataFrame:
        rows = []
        for r in self.runs():
            row = {k: v for k, v in asdict(r.info).items() if k != "config"}
            row.update(
                candidates=r.candidates,
                valid=r.valid,
                best_score=r.best_score,
                spent_usd=r.spent_usd,
            )
            rows.append(row)
        return _pandas().DataFrame(rows)

    def programs_df(self, run: str | None = None, code: bool = False) -> pandas.DataFrame:
        """One row per candidate: the scalar fields, ``metric.NAME`` columns and timings
        (``code=True`` adds the code and diff)."""
        rows = []
        for p in self.reader.programs(self.run(run).id):
            row: dict[str, Any] = {
                "id": p.id,
                "run_id": p.run_id,
                "iteration": p.iteration,
                "parent_id": p.parent_id,
                "island": p.island,
                "generation": p.generation,
                "status": p.status.value,
                "reason": p.reason,
                "score": p.score,
                "model": p.model,
                "mutation": p.mutation,
                "cell": p.cell,
                "tokens_in": p.tokens_in,
                "tokens_out": p.tokens_out,
                "cost_usd": p.cost,
                "llm_s": p.llm_seconds,
                "evaluation_s": p.eval_seconds,
                "created_at": p.created_at,
            }
            row.update({f"metric.{k}": v for k, v in p.metrics.items()})
            if code:
                row.update(code=p.code, diff=p.diff)
            rows.append(row)
        return _pandas().DataFrame(rows)

    def calls_df(self, run: str | None = None) -> pandas.DataFrame:
        """One row per LLM call of a run (prompts and answers included)."""
        calls = [asdict(c) for c in self.reader.calls_of_run(self.run(run).id)]
        return _pandas().DataFrame(calls)


def _pandas() -> Any:
    try:
        import pandas
    except ImportError:
        raise ImportError("DataFrames need pandas: pip install pandas") from None
    return pandas
