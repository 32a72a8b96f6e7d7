"""The ``evolve`` command line: run a search, evaluate one program, inspect the database.
One module per verb under ``evolve/cli/commands/``; this module builds the app and turns
errors into one line and an exit code.

Every command that prints data takes ``--json``. Bad input is one line on stderr and exit
code 2; an unexpected failure is one line too (``EVOLVE_DEBUG=1`` shows the traceback).
"""

from __future__ import annotations

import os
import sys

import typer

from evolve.cli.commands import register
from evolve.errors import UserError

app = typer.Typer(
    name="evolve",
    help="LLM-guided evolutionary program search.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
register(app)  # every verb, from evolve/cli/commands/


def _is_a(exc: BaseException, name: str) -> bool:
    """Whether ``exc`` is a click ``name`` (typer vendors its own copy of click)."""
    return any(cls.__name__ == name for cls in type(exc).__mro__)


def main() -> None:
    try:
        code = app(standalone_mode=False)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:  # output piped into `head` and the like: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
    except Exception as exc:  # last resort: one line, not a traceback
        ctx = getattr(exc, "ctx", None)
        if _is_a(exc, "NoArgsIsHelpError") and ctx is not None:
            print(ctx.get_help())
            sys.exit(0)
        if _is_a(exc, "UsageError"):
            where = ctx.command_path if ctx is not None else "evolve"
            print(f"error: {exc.format_message()} (see: {where} --help)", file=sys.stderr)  # type: ignore[attr-defined]
            sys.exit(2)
        if os.environ.get("EVOLVE_DEBUG"):
            raise
        print(
            f"error: unexpected {type(exc).__name__}: {exc} (set EVOLVE_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
