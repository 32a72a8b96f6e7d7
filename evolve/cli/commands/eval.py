"""``evolve eval``: evaluate one program file in the sandbox, exactly as a run would."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from evolve.cli.options import JsonOption, ProblemArg, SandboxOption
from evolve.cli.output import console, err_console, fmt_score, jsonable, print_json
from evolve.errors import UserError


def command(
    problem: ProblemArg,
    program: Annotated[Path, typer.Argument(help="The program file to evaluate.")],
    as_json: JsonOption = False,
    timeout: Annotated[
        float | None,
        typer.Option("--timeout", min=0.001, help="Override the sandbox timeout (seconds)."),
    ] = None,
    sandbox: SandboxOption = None,
) -> None:
    """Evaluate one program file in the sandbox, exactly as a run would."""
    # The sandbox and the problem loader: loaded for `eval` only.
    from evolve.core.status import Verdict
    from evolve.evaluation.executor import Evaluation, build_executor
    from evolve.problem import load_problem

    overrides: dict[str, object] = {}
    if timeout is not None:
        overrides["sandbox.timeout"] = timeout
    if sandbox is not None:
        overrides["sandbox.backend"] = sandbox.value
    prob = load_problem(problem, overrides or None)
    if not program.is_file():
        raise UserError(f"{program}: no such program file")
    try:
        code = program.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{program}: cannot read: {exc}") from None
    executor = build_executor(prob)
    if executor.backend.lost:
        err_console.print(f"warning: weaker sandbox: {executor.backend.lost}")

    async def once() -> Evaluation:
        try:
            return await executor.evaluate(code)
        finally:
            await executor.close()

    result = asyncio.run(once())
    if result.status is Verdict.EVALUATOR_ERROR:
        raise UserError(
            f"{prob.evaluator.path or prob.config.evaluator.plugin}: the evaluator failed: "
            f"{result.reason}"
        )
    kept = (Verdict.OK, Verdict.TIMEOUT, Verdict.FILTERED)
    status = result.status.value if result.status in kept else "error"
    metric = prob.config.evaluator.primary_metric
    if as_json:
        print_json(
            jsonable(
                {
                    "status": status,
                    "score": result.score,
                    "metrics": result.metrics,
                    "artifacts": result.artifacts,
                    "reason": result.reason,
                    "seconds": result.seconds,
                    "stage": result.stage,
                    "sandbox": executor.backend.name,
                    "primary_metric": metric,
                }
            )
        )
        return
    console.print(
        f"status: {status}" + (f" ({result.reason})" if result.reason else ""), markup=False
    )
    console.print(f"score ({metric}): {fmt_score(result.score)}")
    for name, value in sorted(result.metrics.items()):
        console.print(f"  {name} = {value!r}", markup=False)
    for name, text in sorted(result.artifacts.items()):
        console.print(f"--- {name} ---\n{text.rstrip()}", markup=False)
    console.print(f"evaluated in {result.seconds:.2f}s")
