"""Archives: per-island MAP-Elites grids, parent and inspiration sampling, migration."""
