"""The expression language: one meaning per operator, identical in the engine (Narwhals on
Polars), in numpy (application features, batch) and in the scalar backend (one application in
the API), including on missing values and zeros.

The API computes a single application's derived features with :func:`expr.compile_scalar`, the
batch path with :func:`expr.compile_numpy`; both are compiled from the same expression tree. If
they disagreed in one bit, a client scored through the API would not get the score the batch
gave them: checked on the documented cases, on every derived expression of the default spec and
on random rows rich in edge cases (missing, zero, negative zero, huge and tiny values)."""

from __future__ import annotations

import math
from pathlib import Path

import narwhals.stable.v2 as nw
import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.features import expr as ex
from scoring.features.spec import load_spec

NAN = math.nan
COLUMNS = {
    "A": [4.0, 0.0, NAN, -2.0, 1.0],
    "B": [2.0, 0.0, 1.0, 0.0, NAN],
    "C": [1.0, NAN, NAN, 3.0, 5.0],
}
TEXT = {"S": ["Active", "Closed", None, "Active", "Sold"]}
TYPES: dict[str, ex.ValueType] = {"A": "num", "B": "num", "C": "num", "S": "str"}
LEVELS = {"S": ("Active", "Bad debt", "Closed", "Sold")}

CASES = [
    ("A / B", [2.0, NAN, NAN, NAN, NAN]),  # x/0 and missing operands are missing, never inf
    ("A - B * 2", [0.0, 0.0, NAN, -2.0, NAN]),
    ("-A", [-4.0, -0.0, NAN, 2.0, -1.0]),
    ("A ** 2", [16.0, 0.0, NAN, 4.0, 1.0]),
    ("A > B", [1.0, 0.0, NAN, 0.0, NAN]),
    ("A >= 0 and B > 0", [1.0, 0.0, NAN, 0.0, NAN]),
    ("A < 0 or C > 2", [0.0, NAN, NAN, 1.0, 1.0]),  # a missing operand makes it missing
    ("not A > 0", [0.0, 1.0, NAN, 1.0, 0.0]),
    ("A > 3 and C > 2", [0.0, NAN, NAN, 0.0, 0.0]),  # false and missing: missing (not Kleene)
    ("A < 1 or C > 2", [0.0, NAN, NAN, 1.0, 1.0]),  # true or missing: missing
    ("not (A > 3 and C > 2) or isnull(C)", [1.0, NAN, NAN, 1.0, 1.0]),
    ("S == 'Active'", [1.0, 0.0, NAN, 1.0, 0.0]),
    ("S != 'Active'", [0.0, 1.0, NAN, 0.0, 1.0]),
    ("max(A, B, 0)", [4.0, 0.0, 1.0, 0.0, 1.0]),  # missing values are ignored
    ("min(A, B)", [2.0, 0.0, 1.0, -2.0, 1.0]),
    ("sum(A, B, C)", [7.0, 0.0, 1.0, 1.0, 6.0]),
    ("mean(A, C)", [2.5, 0.0, NAN, 0.5, 3.0]),
    ("count(A, B, C)", [3.0, 2.0, 1.0, 3.0, 2.0]),
    ("std(A, C)", [1.5, 0.0, NAN, 2.5, 2.0]),  # population std over the present values
    ("isnull(C)", [0.0, 1.0, 1.0, 0.0, 0.0]),
    ("fillnull(C, -1)", [1.0, -1.0, -1.0, 3.0, 5.0]),
    ("where(A > 0, B, C)", [2.0, NAN, NAN, 3.0, NAN]),
    ("abs(A)", [4.0, 0.0, NAN, 2.0, 1.0]),
]


def numpy_eval(text: str) -> np.ndarray:
    data = {k: np.array(v, dtype=np.float64) for k, v in COLUMNS.items()}
    data["S"] = np.array(TEXT["S"], dtype=object)
    node = ex.parse(text)
    ex.check(node, TYPES, LEVELS, text)
    return ex.to_numpy(node, data, 5)


def engine_eval(text: str) -> np.ndarray:
    frame = pl.DataFrame({**COLUMNS, **TEXT}).with_columns(pl.col("A", "B", "C").fill_nan(None))
    out = nw.from_native(frame.lazy()).select(ex.to_narwhals(ex.parse(text)).alias("x")).collect()
    return np.array(out["x"].to_list(), dtype=np.float64)


@pytest.mark.parametrize(("text", "want"), CASES)
def test_numpy_backend_gives_the_documented_values(text: str, want: list[float]) -> None:
    np.testing.assert_array_equal(numpy_eval(text), np.array(want))


@pytest.mark.parametrize(("text", "want"), CASES)
def test_engine_backend_gives_the_same_values(text: str, want: list[float]) -> None:
    np.testing.assert_allclose(engine_eval(text), np.array(want), rtol=1e-15, equal_nan=True)


def test_same_result_on_one_row_as_on_many() -> None:
    """The API evaluates one row; batch evaluates all: the values must be identical."""
    rng = np.random.default_rng(0)
    data = {k: rng.normal(size=1000) for k in "ABC"}
    data["A"][rng.random(1000) < 0.2] = NAN
    data["B"][rng.random(1000) < 0.1] = 0.0
    for text, _ in CASES:
        if "S" in text:
            continue
        fn = ex.compile_numpy(ex.parse(text))
        with ex.numpy_errors_ignored():
            batch = fn(data, 1000)
            single = np.concatenate(
                [fn({k: v[i : i + 1] for k, v in data.items()}, 1) for i in range(1000)]
            )
        np.testing.assert_array_equal(batch, single, err_msg=text)


def test_compiled_expressions_never_modify_their_inputs() -> None:
    data = {"A": np.array([1.0, 0.0]), "B": np.array([0.0, 2.0])}
    before = {k: v.copy() for k, v in data.items()}
    for text in ("A", "A / B", "A > B", "max(A, B)", "sum(A, B)"):
        out = ex.to_numpy(ex.parse(text), data, 2)
        out[:] = 99.0
    for k in data:
        np.testing.assert_array_equal(data[k], before[k])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("A +", "cannot parse"),
        ("A.__class__", "unsupported syntax"),
        ("A[0]", "unsupported syntax"),
        ("lambda: 1", "unsupported syntax"),
        ("open('x')", "unknown function 'open'"),
        ("max(A)", "max() takes 2..n arguments, got 1"),
        ("0 < A < 1", "only single comparisons"),
        ("Z + 1", "unknown column 'Z'"),
        ("S == 'Activ'", "'Activ' is not a level of S"),
        ("S > 'Active'", "text can only be compared with == or !="),
        ("S + 1", "arithmetic on text"),
        ("S", "must give a number"),
        ("A ** B", "exponent of ** must be a number"),
        ("True", "unsupported constant"),
    ],
)
def test_bad_expressions_are_rejected_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(ex.ExprError) as err:
        node = ex.parse(text)
        ex.check(node, TYPES, LEVELS, text)
    assert message in str(err.value)


def test_columns_lists_what_an_expression_reads() -> None:
    assert ex.columns(ex.parse("max(A / B, 0) + where(S == 'Sold', C, 1)")) == {"A", "B", "C", "S"}


# ---------------------------------------------------------------------------------------------
# Scalar backend
# ---------------------------------------------------------------------------------------------
ROOT = Path(__file__).resolve().parents[2]
SPEC = load_spec(ROOT / "conf" / "features" / "default.yaml")
#: (text, tree) of every derived expression the default spec evaluates on one application row
DERIVED = [(d.name, d.node) for d in (*SPEC.application.derived, *SPEC.cross)]


def same_bits(a: float, b: float) -> bool:
    """Equal including the sign of zero; NaN equals NaN."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


def both(node: ex.Node, row: dict[str, float | str | None]) -> tuple[float, float]:
    arrays = {
        k: np.array([v], dtype=object) if isinstance(v, str) or (v is None and k in TEXT)
        else np.array([v], dtype=np.float64)
        for k, v in row.items()
    }  # fmt: skip
    return float(ex.to_numpy(node, arrays, 1)[0]), ex.compile_scalar(node)(row)


@pytest.mark.parametrize(("text", "want"), CASES)
def test_scalar_backend_gives_the_documented_values(text: str, want: list[float]) -> None:
    node = ex.parse(text)
    ex.check(node, TYPES, LEVELS, text)
    fn = ex.compile_scalar(node)
    for i, expected in enumerate(want):
        row = {k: v[i] for k, v in {**COLUMNS, **TEXT}.items()}
        got = fn(row)
        assert got == expected or (math.isnan(got) and math.isnan(expected)), (text, i, got)


numbers = st.one_of(
    st.just(math.nan),
    st.sampled_from([0.0, -0.0, 1.0, -1.0, 365243.0, 1e-300, 1e300, -1e300]),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.integers(-30_000, 30_000).map(float),
)
ALL_COLUMNS = sorted(set().union(*(ex.columns(node) for _, node in DERIVED)))


@settings(max_examples=300, deadline=None)
@given(st.fixed_dictionaries({c: numbers for c in ALL_COLUMNS}))
def test_every_default_spec_expression_agrees_with_numpy(row: dict[str, float]) -> None:
    for name, node in DERIVED:
        batch, single = both(node, row)
        assert same_bits(batch, single), (name, row, batch, single)


def test_power_and_text_comparisons_agree() -> None:
    for text in ("A ** 0.5", "A ** 3", "(A - B) ** 2", "S == 'Closed'", "S != 'Sold'"):
        node = ex.parse(text)
        for i in range(5):
            row = {k: v[i] for k, v in {**COLUMNS, **TEXT}.items()}
            batch, single = both(node, row)
            assert same_bits(batch, single), (text, i, batch, single)


def test_compiled_functions_are_reused() -> None:
    node = ex.parse("A / B + C")
    assert ex.compile_scalar(node) is ex.compile_scalar(ex.parse("A / B + C"))
