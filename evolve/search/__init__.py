"""The search: a state you ask for the next iteration and tell what became of it
(``search.Search``), the async runner that drives it (``runner.Runner``), and the messages
between them (``draw``)."""
