"""A tiny, safe expression language for derived columns and subset filters, with two backends.

Spec entries such as ``"AMT_PAYMENT / AMT_INSTALMENT"`` or ``"CREDIT_ACTIVE == 'Active'"`` are
parsed once (with :mod:`ast`, never ``eval``) into a small immutable tree, type-checked against
the table's columns, and then compiled to

- a **Narwhals expression** (:func:`to_narwhals`): the history engine, which runs on Polars by
  default and on any Narwhals lazy backend (DuckDB, PySpark, Dask) unchanged;
- **numpy arrays** (:func:`to_numpy`): application features (batch and single application use
  the same function) and the pandas reference implementation of the benchmark.

Why a language of our own rather than ``pandas.eval``/SQL strings: the two backends must agree
value for value, including on missing data, and that is only true if every operator has one
documented meaning. The rules (identical in both backends):

- numbers are float64; a missing value is ``null`` (Narwhals) / ``NaN`` (numpy);
- ``a / b`` is missing when ``b`` is 0 or missing (no ``inf`` ever reaches the model);
- comparisons give 1.0 / 0.0, or missing when an operand is missing; ``and``, ``or`` and
  ``not`` work on those 0/1 values and propagate missing values;
- ``max(a, b, ...)`` / ``min(...)`` / ``mean(...)`` / ``sum(...)`` / ``std(...)`` work across
  columns and *ignore* missing values (``sum`` of nothing is 0, the others are missing);
  ``count(...)`` counts non-missing values; ``isnull(x)`` is 1.0 / 0.0;
  ``fillnull(x, v)`` replaces missing values; ``where(c, a, b)`` is ``a`` where ``c`` is 1
  and ``b`` otherwise (also when ``c`` is missing); ``abs(x)``; ``x ** k`` for a number ``k``.
- text columns may only be compared with ``==`` / ``!=`` to a quoted level, which must be one of
  the column's levels in :mod:`scoring.schema` (a typo is a spec error, not an all-zero feature).
"""

from __future__ import annotations

import ast
import functools
import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import narwhals.stable.v2 as nw
import numpy as np
import pandas as pd

ValueType = Literal["num", "str"]

#: Functions callable from an expression, with their (min, max) number of arguments.
FUNCTIONS: dict[str, tuple[int, int | None]] = {
    "max": (2, None),
    "min": (2, None),
    "mean": (1, None),
    "sum": (1, None),
    "std": (2, None),
    "count": (1, None),
    "isnull": (1, 1),
    "fillnull": (2, 2),
    "where": (3, 3),
    "abs": (1, 1),
}
_BINOPS: dict[type[ast.operator], str] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.Pow: "**",
}
_CMPOPS: dict[type[ast.cmpop], str] = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
}


class ExprError(ValueError):
    """An expression that cannot be parsed or type-checked; the message says which part."""


@dataclass(frozen=True)
class Col:
    name: str


@dataclass(frozen=True)
class Lit:
    value: float | str


@dataclass(frozen=True)
class BinOp:
    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Cmp:
    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Call:
    fn: str
    args: tuple[Node, ...]


Node = Col | Lit | BinOp | Cmp | Call


def parse(text: str) -> Node:
    """Parse one expression; raise :class:`ExprError` naming the offending part."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExprError(f"cannot parse {text!r}: {exc.msg}") from None
    return _convert(tree.body, text)


def _convert(node: ast.expr, text: str) -> Node:
    """AST → our tree; anything not in the language is rejected with the source snippet."""
    snippet = ast.get_source_segment(text.strip(), node) or ast.dump(node)
    if isinstance(node, ast.Name):
        return Col(node.id)
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float | str):
            raise ExprError(f"{text!r}: unsupported constant {snippet}")
        return Lit(node.value if isinstance(node.value, str) else float(node.value))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        return BinOp(_BINOPS[type(node.op)], _convert(node.left, text), _convert(node.right, text))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        operand = _convert(node.operand, text)
        if isinstance(operand, Lit) and isinstance(operand.value, float):
            return Lit(-operand.value)
        return BinOp("-", Lit(0.0), operand)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return Call("not", (_convert(node.operand, text),))
    if isinstance(node, ast.BoolOp):
        fn = "and" if isinstance(node.op, ast.And) else "or"
        args = [_convert(v, text) for v in node.values]
        out = args[0]
        for arg in args[1:]:
            out = Call(fn, (out, arg))
        return out
    if isinstance(node, ast.Compare):
        if len(node.ops) != 1 or type(node.ops[0]) not in _CMPOPS:
            raise ExprError(f"{text!r}: only single comparisons (==, !=, <, <=, >, >=): {snippet}")
        return Cmp(
            _CMPOPS[type(node.ops[0])],
            _convert(node.left, text),
            _convert(node.comparators[0], text),
        )
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
        fn = node.func.id
        if fn not in FUNCTIONS:
            raise ExprError(f"{text!r}: unknown function {fn!r}; known: {sorted(FUNCTIONS)}")
        lo, hi = FUNCTIONS[fn]
        n = len(node.args)
        if n < lo or (hi is not None and n > hi):
            want = f"{lo}" if lo == hi else f"{lo}..{hi or 'n'}"
            raise ExprError(f"{text!r}: {fn}() takes {want} arguments, got {n}")
        return Call(fn, tuple(_convert(a, text) for a in node.args))
    raise ExprError(f"{text!r}: unsupported syntax {snippet}")


def columns(node: Node) -> set[str]:
    """Every column an expression reads (to project only those columns from parquet)."""
    if isinstance(node, Col):
        return {node.name}
    if isinstance(node, Lit):
        return set()
    if isinstance(node, BinOp | Cmp):
        return columns(node.left) | columns(node.right)
    return set().union(*(columns(a) for a in node.args))


def check(
    node: Node,
    types: Mapping[str, ValueType],
    levels: Mapping[str, tuple[str, ...]],
    text: str,
) -> None:
    """Type-check an expression; the result of a valid expression is always numeric.

    ``types`` maps every visible column to ``"num"`` or ``"str"``; ``levels`` gives the allowed
    values of text columns so that a misspelt level is caught here instead of producing a
    feature that is silently always 0.
    """
    if _type_of(node, types, levels, text) != "num":
        raise ExprError(f"{text!r}: the expression must give a number, not text")


def _type_of(
    node: Node,
    types: Mapping[str, ValueType],
    levels: Mapping[str, tuple[str, ...]],
    text: str,
) -> ValueType:
    if isinstance(node, Col):
        if node.name not in types:
            raise ExprError(f"{text!r}: unknown column {node.name!r}")
        return types[node.name]
    if isinstance(node, Lit):
        return "str" if isinstance(node.value, str) else "num"
    if isinstance(node, Cmp):
        lt = _type_of(node.left, types, levels, text)
        rt = _type_of(node.right, types, levels, text)
        if lt == "str" or rt == "str":
            _check_text_comparison(node, lt, rt, levels, text)
        return "num"
    if isinstance(node, BinOp):
        for side in (node.left, node.right):
            if _type_of(side, types, levels, text) != "num":
                raise ExprError(f"{text!r}: arithmetic on text in {node.op!r}")
        if node.op == "**" and not isinstance(node.right, Lit):
            raise ExprError(f"{text!r}: the exponent of ** must be a number")
        return "num"
    for arg in node.args:
        if _type_of(arg, types, levels, text) != "num":
            raise ExprError(f"{text!r}: {node.fn}() takes numbers, not text")
    return "num"


def _check_text_comparison(
    node: Cmp,
    lt: ValueType,
    rt: ValueType,
    levels: Mapping[str, tuple[str, ...]],
    text: str,
) -> None:
    if node.op not in ("==", "!="):
        raise ExprError(f"{text!r}: text can only be compared with == or !=")
    pair = (node.left, node.right) if isinstance(node.left, Col) else (node.right, node.left)
    col, lit = pair
    if not (isinstance(col, Col) and isinstance(lit, Lit) and isinstance(lit.value, str)):
        raise ExprError(f"{text!r}: compare a text column with a quoted level, e.g. X == 'Y'")
    if lt != rt:
        raise ExprError(f"{text!r}: comparing text with a number")
    allowed = levels.get(col.name)
    if allowed is not None and lit.value not in allowed:
        raise ExprError(
            f"{text!r}: {lit.value!r} is not a level of {col.name}; levels: {list(allowed)}"
        )


# ---------------------------------------------------------------------------------------------
# Narwhals backend (history engine)
# ---------------------------------------------------------------------------------------------
def is_logical(node: Node) -> bool:
    """A comparison, ``isnull``, or ``and``/``or``/``not`` of logical expressions: its value is
    always 0, 1 or missing."""
    if isinstance(node, Cmp):
        return True
    if isinstance(node, Call):
        if node.fn == "isnull":
            return True
        return node.fn in ("and", "or", "not") and all(is_logical(a) for a in node.args)
    return False


def to_narwhals_bool(node: Node) -> nw.Expr:
    """A logical expression (:func:`is_logical`) as a Boolean expression with the numeric
    semantics of :func:`to_narwhals`: missing as soon as any comparison in it is — ``and`` and
    ``or`` do *not* follow Kleene logic (``False and missing`` is missing, as 0 × NaN is).

    Why: Boolean columns are bit-packed; the 0/1 arithmetic form casts every comparison to
    Float64 first (bureau_balance: 27 M rows × 7 comparisons)."""
    compared: set[str] = set()
    connectives: list[str] = []
    expr = _kleene(node, compared, connectives)
    if not connectives or not compared:  # comparisons and ``not`` already give null for null
        return expr
    nulls = (nw.col(c).is_null() for c in sorted(compared))
    return nw.when(~nw.any_horizontal(*nulls, ignore_nulls=False)).then(expr)


def _kleene(node: Node, compared: set[str], connectives: list[str]) -> nw.Expr:
    if isinstance(node, Cmp):
        compared |= columns(node)
        return _CMP[node.op](to_narwhals(node.left), to_narwhals(node.right))
    assert isinstance(node, Call)
    if node.fn == "isnull":
        return to_narwhals(node.args[0]).is_null()
    args = [_kleene(a, compared, connectives) for a in node.args]
    if node.fn == "not":
        return ~args[0]
    connectives.append(node.fn)
    return args[0] & args[1] if node.fn == "and" else args[0] | args[1]


#: The comparison operators, for Narwhals expressions and Python scalars alike.
_CMP: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def to_narwhals(node: Node) -> nw.Expr:
    """Compile to a Narwhals expression (Float64 result, null for missing)."""
    if isinstance(node, Call) and is_logical(node):
        return to_narwhals_bool(node).cast(nw.Float64)
    if isinstance(node, Col):
        return nw.col(node.name)
    if isinstance(node, Lit):
        return nw.lit(node.value)
    if isinstance(node, Cmp):
        left, right = to_narwhals(node.left), to_narwhals(node.right)
        return _CMP[node.op](left, right).cast(nw.Float64)
    if isinstance(node, BinOp):
        a, b = to_narwhals(node.left), to_narwhals(node.right)
        if node.op == "+":
            return a + b
        if node.op == "-":
            return a - b
        if node.op == "*":
            return a * b
        if node.op == "/":
            return nw.when(b != 0).then(a / b)
        return a**b
    return _nw_call(node.fn, [to_narwhals(a) for a in node.args])


def _nw_call(fn: str, args: list[nw.Expr]) -> nw.Expr:
    if fn == "max":
        return nw.max_horizontal(*args)
    if fn == "min":
        return nw.min_horizontal(*args)
    if fn == "mean":
        return nw.mean_horizontal(*args)
    if fn == "sum":
        return nw.sum_horizontal(*args)
    if fn == "count":
        return nw.sum_horizontal(*(a.is_null().__invert__().cast(nw.Float64) for a in args))
    if fn == "std":
        mean = nw.mean_horizontal(*args)
        return nw.mean_horizontal(*((a - mean) ** 2 for a in args)) ** 0.5
    if fn == "isnull":
        return args[0].is_null().cast(nw.Float64)
    if fn == "fillnull":
        return nw.when(args[0].is_null()).then(args[1]).otherwise(args[0])
    if fn == "where":
        return nw.when(args[0] == 1).then(args[1]).otherwise(args[2])
    if fn == "abs":
        return args[0].abs()
    if fn == "and":
        return args[0] * args[1]
    if fn == "or":
        return args[0] + args[1] - args[0] * args[1]
    if fn == "not":
        return 1 - args[0]
    raise ExprError(f"unknown function {fn!r}")  # unreachable after parse()


# ---------------------------------------------------------------------------------------------
# numpy backend (application features, pandas reference)
# ---------------------------------------------------------------------------------------------
#: A compiled expression: (columns, row count) → array. Compile once, call many times.
NumpyFn = Callable[[Mapping[str, np.ndarray], int], np.ndarray]


def compile_numpy(node: Node) -> NumpyFn:
    """Compile to a numpy function over float64 (NaN = missing) / object (None = missing) arrays.

    Why compiled closures rather than walking the tree per call: the API evaluates ~40
    expressions on one row per request, where tree dispatch would cost more than the arithmetic.
    The function returns a fresh float64 array of length ``n`` and never modifies its inputs.
    Call it inside ``numpy_errors_ignored()`` (division by zero is handled explicitly).
    """
    fn = _compile(node)
    if isinstance(node, Col):  # a bare column: copy, so callers may modify the result

        def copy(data: Mapping[str, np.ndarray], n: int) -> np.ndarray:
            return np.array(fn(data, n), dtype=np.float64)

        return copy
    return fn


def numpy_errors_ignored() -> Any:
    """The floating-point error state the numpy backend expects (0/0 etc. are handled)."""
    return np.errstate(divide="ignore", invalid="ignore", over="ignore")


def to_numpy(node: Node, data: Mapping[str, np.ndarray], n: int) -> np.ndarray:
    """One-off evaluation (tests, tools); hot paths keep the :func:`compile_numpy` result."""
    with numpy_errors_ignored():
        return compile_numpy(node)(data, n)


def _compile(node: Node) -> Any:
    if isinstance(node, Col):
        name = node.name
        return lambda d, n: d[name]
    if isinstance(node, Lit):
        value = node.value
        if isinstance(value, str):
            return lambda d, n: value
        return lambda d, n: np.full(n, value)
    if isinstance(node, Cmp):
        return _compile_cmp(node)
    if isinstance(node, BinOp):
        return _compile_binop(node)
    args = tuple(_compile(a) for a in node.args)
    impl = _NP_FUNCS[node.fn]
    return lambda d, n: impl([a(d, n) for a in args], n)


def _compile_cmp(node: Cmp) -> Any:
    left, right = _compile(node.left), _compile(node.right)
    op = node.op
    text = any(isinstance(x, Lit) and isinstance(x.value, str) for x in (node.left, node.right))
    if text:
        return lambda d, n: _np_text_cmp(op, left(d, n), right(d, n))
    ufunc = _NP_CMP[op]

    def cmp(d: Mapping[str, np.ndarray], n: int) -> np.ndarray:
        a, b = left(d, n), right(d, n)
        out = ufunc(a, b).astype(np.float64)
        out[np.isnan(a) | np.isnan(b)] = np.nan
        return out

    return cmp


def _compile_binop(node: BinOp) -> Any:
    left, right = _compile(node.left), _compile(node.right)
    if node.op == "+":
        return lambda d, n: left(d, n) + right(d, n)
    if node.op == "-":
        return lambda d, n: left(d, n) - right(d, n)
    if node.op == "*":
        return lambda d, n: left(d, n) * right(d, n)
    if node.op == "/":

        def div(d: Mapping[str, np.ndarray], n: int) -> np.ndarray:
            b = right(d, n)
            out = left(d, n) / b
            out[b == 0] = np.nan
            return out

        return div
    return lambda d, n: np.power(left(d, n), right(d, n))


_NP_CMP: dict[str, Callable[[Any, Any], np.ndarray]] = {
    "==": np.equal,
    "!=": np.not_equal,
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
}


def _np_text_cmp(op: str, a: Any, b: Any) -> np.ndarray:
    arr, lit = (b, a) if isinstance(a, str) else (a, b)
    missing = pd.isna(arr)
    equal = np.asarray(arr == lit, dtype=np.float64)
    out = equal if op == "==" else 1.0 - equal
    out[missing] = np.nan
    return out


def _h_count(args: list[np.ndarray], n: int) -> np.ndarray:
    return np.count_nonzero(~np.isnan(np.vstack(args)), axis=0).astype(np.float64)


def _h_sum(args: list[np.ndarray], n: int) -> np.ndarray:
    # Row by row, left to right (as Polars' sum_horizontal): the same rounding for 1 row or 1 M.
    rows = np.vstack(args)
    rows[np.isnan(rows)] = 0.0
    total = rows[0].copy()
    for row in rows[1:]:
        total += row
    return total


def _h_mean(args: list[np.ndarray], n: int) -> np.ndarray:
    k = _h_count(args, n)
    out = _h_sum(args, n) / k
    out[k == 0] = np.nan
    return out


def _h_std(args: list[np.ndarray], n: int) -> np.ndarray:
    mean = _h_mean(args, n)
    return np.sqrt(_h_mean([(a - mean) ** 2 for a in args], n))


def _h_max(args: list[np.ndarray], n: int) -> np.ndarray:
    out = args[0]
    for a in args[1:]:
        out = np.fmax(out, a)  # fmax ignores NaN unless both are NaN
    return np.array(out, dtype=np.float64)


def _h_min(args: list[np.ndarray], n: int) -> np.ndarray:
    out = args[0]
    for a in args[1:]:
        out = np.fmin(out, a)
    return np.array(out, dtype=np.float64)


_NP_FUNCS: dict[str, Callable[[list[np.ndarray], int], np.ndarray]] = {
    "max": _h_max,
    "min": _h_min,
    "mean": _h_mean,
    "sum": _h_sum,
    "std": _h_std,
    "count": _h_count,
    "isnull": lambda a, n: np.isnan(a[0]).astype(np.float64),
    "fillnull": lambda a, n: np.where(np.isnan(a[0]), a[1], a[0]),
    "where": lambda a, n: np.where(a[0] == 1, a[1], a[2]),
    "abs": lambda a, n: np.abs(a[0]),
    "and": lambda a, n: a[0] * a[1],
    "or": lambda a, n: a[0] + a[1] - a[0] * a[1],
    "not": lambda a, n: 1.0 - a[0],
}


# ---------------------------------------------------------------------------------------------
# Scalar backend (one application in the API)
# ---------------------------------------------------------------------------------------------
#: A compiled expression over one row: column → float (NaN = missing) / str / None → float.
ScalarFn = Callable[[Mapping[str, Any]], float]
_NAN = float("nan")


@functools.cache
def compile_scalar(node: Node) -> ScalarFn:
    """Compile to a function of one row of plain Python values, for the one-application path.

    The numpy backend spends ~1 µs of array overhead per operator on a one-row array, which
    made the API's feature step cost ~0.45 ms for the default spec; the same operators on
    Python floats cost tens of nanoseconds. Same tree, same rules as :func:`compile_numpy`,
    operator for operator: ``+ - * /`` and comparisons are the same IEEE-754 double operations;
    ``/`` by 0 is missing; the horizontal functions accumulate left to right as
    :func:`_h_sum` does; ``**`` goes through ``np.power`` itself (libm/SIMD ``pow`` may differ
    in the last bit from Python's). tests/unit/test_features_expr.py checks that both
    backends agree bit for bit on every expression of the default spec and random rows.
    Compiled functions are cached per (immutable) tree.
    """
    return _compile_scalar(node)


def _compile_scalar(node: Node) -> Any:
    if isinstance(node, Col):
        name = node.name
        return lambda d: d[name]
    if isinstance(node, Lit):
        value = node.value
        return lambda d: value
    if isinstance(node, Cmp):
        return _scalar_cmp(node)
    if isinstance(node, BinOp):
        return _scalar_binop(node)
    args = tuple(_compile_scalar(a) for a in node.args)
    impl = _SC_FUNCS[node.fn]
    if len(args) == 1:
        (a0,) = args
        return lambda d: impl([a0(d)])
    return lambda d: impl([a(d) for a in args])


def _scalar_cmp(node: Cmp) -> Any:
    left, right = _compile_scalar(node.left), _compile_scalar(node.right)
    text = any(isinstance(x, Lit) and isinstance(x.value, str) for x in (node.left, node.right))
    if text:
        equal = node.op == "=="

        def text_cmp(d: Mapping[str, Any]) -> float:
            a, b = left(d), right(d)
            if a is None or b is None:
                return _NAN
            return 1.0 if (a == b) == equal else 0.0

        return text_cmp
    op = _CMP[node.op]

    def cmp(d: Mapping[str, Any]) -> float:
        a, b = left(d), right(d)
        if a != a or b != b:
            return _NAN
        return 1.0 if op(a, b) else 0.0

    return cmp


def _scalar_binop(node: BinOp) -> Any:
    left, right = _compile_scalar(node.left), _compile_scalar(node.right)
    if node.op == "+":
        return lambda d: left(d) + right(d)
    if node.op == "-":
        return lambda d: left(d) - right(d)
    if node.op == "*":
        return lambda d: left(d) * right(d)
    if node.op == "/":

        def div(d: Mapping[str, Any]) -> float:
            a, b = left(d), right(d)
            return _NAN if b == 0 else a / b

        return div

    def power(d: Mapping[str, Any]) -> float:
        with numpy_errors_ignored():
            return float(np.power(np.array([left(d)], dtype=np.float64), right(d))[0])

    return power


def _s_sum(args: list[float]) -> float:
    total = 0.0 if args[0] != args[0] else args[0]  # like _h_sum: NaN counts as 0
    for a in args[1:]:
        total += a if a == a else 0.0  # adding the 0.0 too: -0.0 + 0.0 is +0.0 in both
    return total


def _s_count(args: list[float]) -> float:
    return float(sum(1 for a in args if a == a))


def _s_mean(args: list[float]) -> float:
    k = _s_count(args)
    return _NAN if k == 0 else _s_sum(args) / k


def _s_std(args: list[float]) -> float:
    m = _s_mean(args)
    return math.sqrt(_s_mean([(a - m) * (a - m) for a in args]))


def _s_max(args: list[float]) -> float:
    out = args[0]
    for a in args[1:]:  # as np.fmax: a missing value loses unless both are missing
        if out != out or (a == a and a > out):
            out = a
    return out


def _s_min(args: list[float]) -> float:
    out = args[0]
    for a in args[1:]:
        if out != out or (a == a and a < out):
            out = a
    return out


_SC_FUNCS: dict[str, Callable[[list[float]], float]] = {
    "max": _s_max,
    "min": _s_min,
    "mean": _s_mean,
    "sum": _s_sum,
    "std": _s_std,
    "count": _s_count,
    "isnull": lambda a: 1.0 if a[0] != a[0] else 0.0,
    "fillnull": lambda a: a[1] if a[0] != a[0] else a[0],
    "where": lambda a: a[1] if a[0] == 1 else a[2],
    "abs": lambda a: abs(a[0]),
    "and": lambda a: a[0] * a[1],
    "or": lambda a: a[0] + a[1] - a[0] * a[1],
    "not": lambda a: 1.0 - a[0],
}
