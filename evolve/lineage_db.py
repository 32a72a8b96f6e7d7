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

from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from evolve.core.records import Candidate, LLMCall
from evolve.store.database import resolve_db_url
from evolve.store.reader import Reader, RunSummary
from evolve.store.rows import RunInfo
from evolve.store.stats import run_stats
from evolve.store.views import run_json, table_row

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
        return self.reader.best(self.run(run), top)

    def lineage(self, program_id: str) -> list[Candidate]:
        """The program and its ancestors, from the initial program to it."""
        return self.reader.ancestry(self.reader.program(program_id).id)

    def calls(self, program_id: str) -> list[LLMCall]:
        """The LLM exchanges that made a program."""
        return self.reader.calls(self.reader.program(program_id).id)

    def stats(self, run: str | None = None) -> dict[str, Any]:
        """Per model, per island, MAP-Elites coverage and the bandit (as ``evolve stats``)."""
        return run_stats(self.reader, self.run(run))

    # DataFrames: the same columns as ``evolve runs --json`` and ``evolve export`` ---------
    def runs_df(self) -> pandas.DataFrame:
        """One row per run: its record (but the configuration) and its aggregates."""
        return _pandas().DataFrame([run_json(r) for r in self.runs()])

    def programs_df(self, run: str | None = None, code: bool = False) -> pandas.DataFrame:
        """One row per candidate: the record's fields (``code=True`` adds the code and the
        diff) and one ``metric.NAME`` column per metric."""
        rows = [table_row(p, code=code) for p in self.reader.programs(self.run(run).id)]
        return _pandas().DataFrame(rows)

    def calls_df(self, run: str | None = None) -> pandas.DataFrame:
        """One row per LLM call of a run (prompts and answers included)."""
        calls = [c.to_dict() for c in self.reader.calls_of_run(self.run(run).id)]
        return _pandas().DataFrame(calls)


def _pandas() -> Any:
    try:
        import pandas
    except ImportError:
        raise ImportError("DataFrames need pandas: pip install pandas") from None
    return pandas
