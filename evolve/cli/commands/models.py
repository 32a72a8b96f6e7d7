"""``evolve models``: the models a run would use, their prices, and whether each is usable
now (key set, package installed; with ``--ping``, a real one-line call).

The model clients and the problem loader are imported inside the functions: loaded for
``models`` only, not for every ``evolve`` command.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Column, Table

from evolve.cli.options import JsonOption
from evolve.cli.output import console, print_json
from evolve.errors import UserError

if TYPE_CHECKING:
    from evolve.config import ModelConfig


def command(
    problem: Annotated[
        str | None,
        typer.Argument(help="problem.toml, its folder, or a bundled name (its [llm] models)."),
    ] = None,
    model: Annotated[
        list[str] | None,
        typer.Option("--model", "-m", help="Model spec, repeatable (instead of the problem's)."),
    ] = None,
    ping: Annotated[
        bool, typer.Option("--ping", help="Make one short real call to each usable model.")
    ] = False,
    timeout: Annotated[
        float, typer.Option("--timeout", min=0.1, help="Seconds to wait for --ping.")
    ] = 30.0,
    as_json: JsonOption = False,
) -> None:
    """List the configured models, their prices, and whether each is usable now."""
    from evolve.cli.run_cmd import parse_model_flag
    from evolve.config import LLMConfig, ModelConfig
    from evolve.llm.ensemble import resolve_models
    from evolve.problem import load_problem

    models = model or []
    if problem is not None:
        overrides = {"llm.models": [parse_model_flag(m) for m in models]} if models else None
        config = load_problem(problem, overrides).config.llm
    else:
        config = LLMConfig(models=[ModelConfig(**parse_model_flag(m)) for m in models])
    specs, _ = resolve_models(config)
    rows = [_describe(spec, ping, timeout) for spec in specs]
    if as_json:
        print_json(rows)
        return
    table = Table("weight", "USD / Mtok in, out", "usable", "detail")
    table.columns.insert(0, Column("model", no_wrap=True))
    for r in rows:
        price = f"{r['price_in']:g}, {r['price_out']:g}" if r["price_known"] else "unknown"
        usable = "yes" if r["usable"] else "no"
        table.add_row(r["model"], f"{r['weight']:g}", price, usable, r["detail"])
    console.print(table)


def _describe(model: ModelConfig, ping: bool, timeout: float) -> dict[str, Any]:
    from evolve.llm.ensemble import key_variable
    from evolve.llm.pricing import price_of

    price = price_of(model)
    row: dict[str, Any] = {
        "model": model.name,
        "weight": model.weight,
        "base_url": model.base_url,
        "key_variable": key_variable(model),
        "price_known": price.known,
        "price_in": price.input * 1e6,
        "price_out": price.output * 1e6,
        "price_source": price.source,
    }
    usable, detail = _usable(model)
    if usable and ping:
        usable, detail = _ping(model, timeout)
    row.update(usable=usable, detail=detail)
    return row


def _usable(model: ModelConfig) -> tuple[bool, str]:
    from evolve.llm.ensemble import PROVIDERS, check_spec, key_variable
    from evolve.llm.local import _MODELS

    provider, _, name = model.name.partition("/")
    try:
        check_spec(model.name, model.base_url, model.api_key_env)
    except UserError as exc:
        text = str(exc)
        if "environment variable" in text:
            return False, "set " + text.split("environment variable ", 1)[1].split(" (")[0]
        return False, text
    if provider == "local":
        package = _MODELS.get(name)
        if package is not None and importlib.util.find_spec(package) is None:
            return False, f"package {package.replace('_', '-')} is not installed"
        if package is None and not os.path.isfile(os.path.expanduser(name)):
            return False, f"no such GGUF file {name}"
        return True, "embedded (llama-cpp-python, CPU)"
    assert provider in PROVIDERS
    variable = key_variable(model)
    where = f"server {model.base_url}" if model.base_url else "provider endpoint"
    key = f"key from {variable}" if variable and os.environ.get(variable) else "no key needed"
    return True, f"{where}, {key}"


def _ping(model: ModelConfig, timeout: float) -> tuple[bool, str]:
    from evolve.llm.base import LLMError, LLMRequest
    from evolve.llm.ensemble import make_client

    request = LLMRequest(prompt="Reply with the word OK.", max_tokens=16, temperature=0.0, seed=0)
    client = make_client(model, timeout)
    started = time.monotonic()
    try:
        response = asyncio.run(asyncio.wait_for(client.complete(request), timeout))
    except LLMError as exc:
        return False, f"call failed: {exc}"
    except TimeoutError:
        return False, f"no answer within {timeout:g} s"
    answer = " ".join(response.text.split())[:40]
    return True, f"answered in {time.monotonic() - started:.1f} s: {answer!r}"
