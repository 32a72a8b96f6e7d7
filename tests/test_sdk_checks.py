"""The verifiers' readers: a candidate's construction becomes plain, finite numbers, or one
line says what is wrong with it."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from evolve.sdk.checks import exact, integer_rows, real_array


class Lying(np.ndarray):
    def tolist(self):  # type: ignore[override]
        return [[0.0, 0.0]]

    def __getitem__(self, key):  # type: ignore[override]
        return 0.0


def test_real_array_copies_into_a_plain_float64_array() -> None:
    lying = np.array([[0.25, 0.5], [1, 2]]).view(Lying)
    arr = real_array(lying, "points", (None, 2))
    assert type(arr) is np.ndarray and arr.dtype == np.float64
    assert arr.tolist() == [[0.25, 0.5], [1.0, 2.0]]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([[0.1, float("nan")]], "points[0, 1] is not finite"),
        ([[0.1, float("inf")]], "points[0, 1] is not finite"),
        ([[True, False]], "must hold real numbers, got dtype bool"),
        ([[1j, 2]], "must hold real numbers, got dtype complex128"),
        ([["1", "2"]], "must hold real numbers"),
        (np.array([[object(), 1]], dtype=object), "must hold real numbers, got dtype object"),
        ([[0.1, 0.2, 0.3]], "must have shape (any, 2), got (1, 3)"),
        ([[1, 2], [3]], "cannot be read as a numeric array"),
    ],
)
def test_real_array_refuses(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=None) as info:
        real_array(value, "points", (None, 2))
    assert message in str(info.value)


def test_integer_rows_exact_and_strict() -> None:
    big = 10**30
    assert integer_rows([[big, -1], (2, np.int64(3))], "v", 2) == [[big, -1], [2, 3]]
    assert integer_rows(np.array([[1, 2]], dtype=np.int32), "v", 2) == [[1, 2]]
    for bad, message in [
        ([[1.0, 2]], "v[0][0] is not an integer"),
        ([[True, 2]], "v[0][0] is not an integer"),
        (np.array([[1.5, 2.0]]), "must hold integers"),
        ([[1, 2, 3]], "v[0] has 3 entries, not 2"),
        ([5], "v[0] is not a vector"),
        ("12", "must be a sequence of integer vectors"),
    ]:
        with pytest.raises(ValueError) as info:
            integer_rows(bad, "v", 2)
        assert message in str(info.value)


def test_exact_is_the_float_itself() -> None:
    assert exact([0.1]) == [Fraction(3602879701896397, 36028797018963968)]
    with pytest.raises(ValueError):
        exact([float("nan")])
