"""``python -m evolve``: the command line, as the ``evolve`` script runs it (for a given
interpreter, whatever ``evolve`` on PATH is)."""

from evolve.cli.main import main

if __name__ == "__main__":
    main()
