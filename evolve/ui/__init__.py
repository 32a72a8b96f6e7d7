"""The web UI of ``evolve ui``: a Starlette server (``server.py``) over a read-only
database, the payloads it serves (``queries.py``) and the page itself (``static/``)."""
