"""Compute the reference tours of the tsp_heuristic problem (run once, offline; not in tests).

    python problems/tsp_heuristic/make_reference.py [--restarts 30] [--lkh-runs 100]

For each instance of ``evaluator.INSTANCES``: the best tour found by LKH-3 (through the
``elkai`` package, when it is installed: ``pip install elkai``; coordinates scaled by 1e6
and rounded to whole units, as TSPLIB's EUC_2D wants), polished with 2-opt and Or-opt on
the float64 distances, and by ``--restarts`` random restarts of this file's own 2-opt +
Or-opt local search. It prints each instance's best length (float64, as the evaluator
computes it) and tour; the lengths go into ``evaluator.REFERENCE``. The tours are kept out
of this folder on purpose (a candidate can read it); tests/test_problems_algorithms.py
holds them and checks that they are valid tours of exactly those lengths.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import numpy as np


def _evaluator():
    path = Path(__file__).with_name("evaluator.py")
    spec = importlib.util.spec_from_file_location("_tsp_evaluator", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def two_opt(tour: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """Best-improvement 2-opt until no move gains more than 1e-12."""
    n = len(tour)
    while True:
        a, b = tour, np.roll(tour, -1)
        gain = dist[a, b][:, None] + dist[a, b][None, :] - dist[a[:, None], a[None, :]]
        gain -= dist[b[:, None], b[None, :]]
        gain = np.triu(gain, 2)
        gain[0, n - 1] = 0.0
        i, j = np.unravel_index(int(np.argmax(gain)), gain.shape)
        if gain[i, j] <= 1e-12:
            return tour
        tour = np.concatenate([tour[: i + 1], tour[i + 1 : j + 1][::-1], tour[j + 1 :]])


def or_opt(tour: np.ndarray, dist: np.ndarray) -> tuple[np.ndarray, bool]:
    """One pass of Or-opt: move a segment of 1 to 3 cities (either way round) elsewhere."""
    n = len(tour)
    improved = False
    for length in (1, 2, 3):
        i = 0
        while i < n:
            seg = np.roll(tour, -i)[:length]
            rest = np.roll(tour, -i)[length:]
            prev, nxt = rest[-1], rest[0]
            removed = dist[prev, seg[0]] + dist[seg[-1], nxt] - dist[prev, nxt]
            p, q = rest[:-1], rest[1:]
            fwd = dist[p, seg[0]] + dist[seg[-1], q] - dist[p, q]
            bwd = dist[p, seg[-1]] + dist[seg[0], q] - dist[p, q]
            k_f, k_b = int(np.argmin(fwd)), int(np.argmin(bwd))
            best = min(fwd[k_f], bwd[k_b])
            if removed - best > 1e-12:
                k, piece = (k_f, seg) if fwd[k_f] <= bwd[k_b] else (k_b, seg[::-1])
                tour = np.concatenate([rest[: k + 1], piece, rest[k + 1 :]])
                improved = True
            i += 1
    return tour, improved


def local_search(tour: np.ndarray, dist: np.ndarray) -> np.ndarray:
    while True:
        tour = two_opt(tour, dist)
        tour, improved = or_opt(tour, dist)
        if not improved:
            return tour


def lkh_tour(points: np.ndarray, runs: int) -> np.ndarray | None:
    try:
        import elkai
    except ImportError:
        return None
    coords = {i: (float(round(x * 1e6)), float(round(y * 1e6))) for i, (x, y) in enumerate(points)}
    order = elkai.Coordinates2D(coords).solve_tsp(runs=runs)
    return np.array(order[:-1], dtype=np.int64)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--restarts", type=int, default=30)
    parser.add_argument("--lkh-runs", type=int, default=100)
    args = parser.parse_args(argv)
    ev = _evaluator()
    for seed, n in ev.INSTANCES:
        points = ev.instance_points(seed, n)
        dist = np.hypot(*(points[:, None, :] - points[None, :, :]).transpose(2, 0, 1))
        rng = np.random.default_rng(seed)
        found = []
        start = lkh_tour(points, args.lkh_runs)
        if start is not None:
            found.append(("lkh", local_search(start, dist)))
        for _ in range(args.restarts):
            found.append(("ls", local_search(rng.permutation(n), dist)))
        scored = [(ev.tour_length(points, t.tolist()), name, t) for name, t in found]
        length, name, tour = min(scored, key=lambda s: s[0])
        ls_best = min(s[0] for s in scored if s[1] == "ls") if args.restarts else float("nan")
        print(f"seed {seed} n {n}: best {length!r} from {name}; best restart {ls_best!r}")
        print("  tour", " ".join(map(str, tour.tolist())))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
