"""Reading a candidate's construction as plain, finite numbers, for verifiers that cannot be
fooled.

A verifier must never trust what the candidate hands back: an ``ndarray`` subclass can lie
through ``__getitem__``, ``sum`` or ``tolist``; object arrays hold anything; NaN passes
naive comparisons (``nan < x`` and ``nan > x`` are both False); booleans and complex numbers
pass ``np.asarray``. These helpers copy a value into plain data first (a float64 NumPy
array, or nested lists of Python ints) and say what is wrong in one line, naming the
entry, as ``ValueError``. Everything the verifier computes afterwards (the objective
included) it computes from that copy.

``exact_convolution`` and ``dyadic`` compute (auto)correlations of step functions exactly
(every float64 is an integer over a power of two). ``exact`` turns the float64 values into ``fractions.Fraction`` so that feasibility checks
can be made with no rounding at all (each float64 is a rational number).

NumPy is imported on first use: the harness imports ``evolve.sdk`` without it.
"""

from __future__ import annotations

import decimal
import math
import numbers
from collections.abc import Iterable, Sequence
from fractions import Fraction
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np


def real_array(obj: Any, what: str, shape: tuple[int | None, ...] | None = None) -> np.ndarray:
    """A plain float64 copy of ``obj``, every entry finite, of ``shape`` when given (None
    in a shape: any length there). Integers and floats only: bool, complex, object and
    string data are refused."""
    import numpy as np

    try:
        raw = np.asarray(obj)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{what} cannot be read as a numeric array: {exc}") from None
    if raw.dtype.kind not in "iuf":
        raise ValueError(f"{what} must hold real numbers, got dtype {raw.dtype}")
    arr = np.array(raw, dtype=np.float64, copy=True, subok=False)
    if type(arr) is not np.ndarray:  # pragma: no cover - subok=False guarantees it
        raise ValueError(f"{what} is not a plain array")
    if shape is not None:
        fits = len(arr.shape) == len(shape) and all(
            want is None or want == got for want, got in zip(shape, arr.shape, strict=True)
        )
        if not fits:
            parts = ["any" if n is None else str(n) for n in shape]
            wanted = f"({parts[0]},)" if len(parts) == 1 else "(" + ", ".join(parts) + ")"
            raise ValueError(f"{what} must have shape {wanted}, got {arr.shape}")
    bad = np.argwhere(~np.isfinite(arr))
    if len(bad):
        index = tuple(int(k) for k in bad[0])
        raise ValueError(f"{what}[{', '.join(map(str, index))}] is not finite ({arr[index]})")
    return arr


def integer_rows(obj: Any, what: str, width: int | None = None) -> list[list[int]]:
    """A list of rows of Python ints (exact, any size): from integer arrays or nested
    sequences of ints. Floats are refused, even integral ones (2.0 may have been 2 + 1e-16
    before rounding); so are bools."""
    import numpy as np

    if isinstance(obj, np.ndarray):
        if obj.dtype.kind not in "iu":
            raise ValueError(f"{what} must hold integers, got dtype {obj.dtype}")
        rows = np.array(obj, copy=True, subok=False).tolist()
    elif isinstance(obj, Sequence) and not isinstance(obj, str | bytes):
        rows = [list(row) if isinstance(row, Sequence | np.ndarray) else row for row in obj]
    else:
        raise ValueError(f"{what} must be a sequence of integer vectors, got {type(obj).__name__}")
    out: list[list[int]] = []
    for i, row in enumerate(rows):
        if not isinstance(row, list):
            raise ValueError(f"{what}[{i}] is not a vector ({type(row).__name__})")
        if width is not None and len(row) != width:
            raise ValueError(f"{what}[{i}] has {len(row)} entries, not {width}")
        values = []
        for j, v in enumerate(row):
            if isinstance(v, bool | np.bool_) or not isinstance(v, numbers.Integral):
                raise ValueError(f"{what}[{i}][{j}] is not an integer ({v!r})")
            values.append(int(v))
        out.append(values)
    return out


def exact(values: Iterable[float]) -> list[Fraction]:
    """Each (finite) float as the rational number it is: no rounding in what follows."""
    out = []
    for v in values:
        if not math.isfinite(v):
            raise ValueError(f"{v!r} is not finite")
        out.append(Fraction(v))
    return out


def exact_convolution(a: list[int], b: list[int]) -> list[int]:
    """c[k] = sum_i a[i] * b[k - i] for two non-empty lists of non-negative ints, exactly.

    Kronecker substitution: each list is packed into one big integer, a slot of ``width``
    decimal digits per entry (wide enough for any c[k]), the two are multiplied once and
    the slots of the product are the c[k]. The product is taken with ``decimal`` (exact
    here: unlimited precision, and any rounding would raise), whose number-theoretic
    transform multiplies numbers of millions of digits in a fraction of a second.
    """
    bound = min(len(a), len(b)) * max(a) * max(b)  # no c[k] exceeds it
    width = len(str(bound))
    packed = ["".join(str(v).zfill(width) for v in reversed(x)) for x in (a, b)]
    context = decimal.Context(
        prec=decimal.MAX_PREC,
        Emax=decimal.MAX_EMAX,
        Emin=decimal.MIN_EMIN,
        traps=[decimal.Inexact, decimal.Rounded, decimal.InvalidOperation],
    )
    product = context.multiply(decimal.Decimal(packed[0]), decimal.Decimal(packed[1]))
    size = len(a) + len(b) - 1
    digits = str(product).zfill(size * width)
    if len(digits) != size * width or not digits.isdigit():  # pragma: no cover - cannot happen
        raise ArithmeticError("exact convolution: the packed product has the wrong size")
    return [int(digits[(size - 1 - k) * width : (size - k) * width]) for k in range(size)]


def dyadic(values: list[float]) -> tuple[list[int], int]:
    """Integers m and an exponent s with values[i] == m[i] / 2**s exactly (finite, >= 0)."""
    ratios = [v.as_integer_ratio() for v in values]
    s = max(q.bit_length() - 1 for _, q in ratios)
    return [p << (s - (q.bit_length() - 1)) for p, q in ratios], s
