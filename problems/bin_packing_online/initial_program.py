"""Online bin packing on Weibull instances (FunSearch's benchmark): evolve the priority.

Items arrive one at a time and each must be placed before the next is seen. For every
item, ``priority(item, bins)`` scores the bins that can take it; the item goes into the
bin with the highest score. Only ``priority`` evolves. ``run_packing`` and ``run_probe``
(outside the block, never changed) are what the evaluator calls; the evaluator replays
every decision itself from the returned scores, so it does not trust this file's loop.
"""

import numpy as np


# EVOLVE-BLOCK-START
def priority(item, bins):
    """Score each bin that could take ``item``; the item goes to the highest score.

    item: size of the arriving item, a whole number from 1 to 100 (as a float).
    bins: float64 array: the remaining capacity of every open bin that can take the
    item (each >= item), in the order the bins were opened, then one last entry 100.0
    that stands for opening a new, empty bin (capacity 100).
    Return one finite real score per entry of bins (same length). Must depend only on
    item and bins: no state kept between calls, no randomness.

    Best fit: the tighter the fit, the higher the score.
    """
    return -(bins - item)


# EVOLVE-BLOCK-END


def run_packing(instances, capacity, max_values):
    """Pack each instance (an array of item sizes) online with ``priority``.

    Returns, per instance, ``(counts, values, bad)``: the number of scores ``priority``
    gave for each item, all those scores end to end (float64), and ``None``; or, at the
    first output that is not a finite real vector of the right length, the packing
    stops there and ``bad`` is that output (its dtype's name if it is not numeric).
    Stops early too, with ``bad`` None, once ``max_values`` scores would be asked for, and
    then leaves the later instances empty (the evaluator stops at the first problem).
    """
    results, stopped = [], False
    for items in instances:
        if stopped:
            results.append((np.zeros(0, dtype=np.int64), np.zeros(0), None))
            continue
        remaining = np.zeros(len(items))
        opened = 0
        counts, chunks, bad, total = [], [], None, 0
        for item in np.asarray(items).tolist():
            fit = np.flatnonzero(remaining[:opened] >= item)
            if total + len(fit) + 1 > max_values:
                break
            bins = np.append(remaining[fit], float(capacity))
            scores = np.asarray(priority(float(item), bins))
            if scores.dtype.kind not in "biufc":
                bad = str(scores.dtype)
                break
            if (
                scores.shape != (len(fit) + 1,)
                or scores.dtype.kind not in "iuf"
                or not np.all(np.isfinite(scores))
            ):
                bad = scores
                break
            scores = scores.astype(np.float64)  # the evaluator decides on these values
            counts.append(len(scores))
            chunks.append(scores)
            total += len(scores)
            choice = int(np.argmax(scores))
            if choice == len(fit):
                remaining[opened] = capacity - item
                opened += 1
            else:
                remaining[fit[choice]] -= item
        stopped = bad is not None or len(counts) < len(items)
        values = np.concatenate(chunks) if chunks else np.zeros(0)
        results.append((np.array(counts, dtype=np.int64), values, bad))
    return results


def run_probe(items, bins, lengths):
    """Ask ``priority`` again about some (item, bins) states, given end to end in ``bins``
    with ``lengths`` entries each; return the scores end to end (float64)."""
    out, start = [], 0
    for item, length in zip(np.asarray(items).tolist(), np.asarray(lengths).tolist(), strict=True):
        state = np.array(bins[start : start + length], dtype=np.float64)
        start += length
        out.append(np.asarray(priority(float(item), state)).astype(np.float64).ravel())
    return np.concatenate(out) if out else np.zeros(0)
