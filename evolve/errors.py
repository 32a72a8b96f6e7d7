"""Errors the user can fix: reported as one line on stderr with exit code 2, no traceback."""

from __future__ import annotations


class UserError(Exception):
    """Bad input (a problem file, a flag, a database path): one clear line, exit code 2."""

    exit_code = 2
