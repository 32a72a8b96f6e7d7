"""Benchmarks: the bundled problems as a catalogue with their best-known values and suites
(``catalogue``), runs of a search on them measured against those values (``measure``), and
the reports and comparisons of ``evolve bench`` (``report``)."""
