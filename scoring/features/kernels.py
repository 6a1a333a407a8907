"""Compiled kernels of the feature engine (numba; imported on first use, see
:func:`scoring.features.segments.compile_kernels`)."""

from __future__ import annotations

import numba
import numpy as np


def compile_all() -> None:
    """Compile (or load from numba's on-disk cache) every kernel for the types the engine
    passes: float64 values, int64 positions and groups — each input array both writable and
    read-only (numba compiles those separately; Polars' and Arrow's buffers are read-only)."""
    one = np.zeros(1, dtype=np.int64)
    bits = np.ones(1, dtype=np.uint8)
    for x, k, b in zip(_both(np.zeros(1)), _both(one), _both(bits), strict=True):
        group_stats(x, one, one, 1, True)
        whole_number_range(x)
        key_range(k)
        counting_order(k, 0, 1, np.empty(1, dtype=np.int64), np.empty(1, dtype=np.int64))
        last_n(x, one, 1)
        distinct_counts(x, one, one, 1, 0.0, np.full(1, -1, dtype=np.int64), 0)
        for valid in _both(bits):
            place_floats(np.zeros(1), one, 0, x, valid, 0, 1)
            place_flags(np.zeros(1), one, 0, b, valid, 0, 1)


def _both(array: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``array`` and a read-only copy of it."""
    frozen = array.copy()
    frozen.flags.writeable = False
    return array, frozen


@numba.njit(nogil=True, cache=True)
def group_stats(
    x: np.ndarray, take: np.ndarray, number: np.ndarray, size: int, want_var: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover
    """(count, sum, min, max, var) of each group over its non-missing values.

    Row ``j`` is ``x[take[j]]`` of group ``number[j]`` (non-decreasing: each group's rows
    together, in input order). Groups without rows get count 0, sum 0, the others NaN; var
    (ddof=1, two-pass: squared deviations from the group mean) is NaN below two values.

    A group's values are added one after the other in row order, starting from 0, so the result
    depends only on that group's values and their order: one client's records alone (the API)
    give exactly the bits of the full table. Compiled (numba, GIL released), one branch-free
    pass over the rows — each running value restarts where a group starts and is stored for
    its group on every row — so a group costs nothing beyond its rows (numpy's ``reduceat``
    pays ~20 ns per group per aggregate, and most clients have ~5 rows in a table).
    """
    count = np.zeros(size)
    total = np.zeros(size)
    low = np.full(size, np.nan)
    high = np.full(size, np.nan)
    var = np.full(size, np.nan)
    c = 0.0
    t = 0.0
    mn = np.nan
    mx = np.nan
    previous = -1
    for j in range(len(take)):
        g = number[j]
        v = x[take[j]]
        start = g != previous
        previous = g
        ok = v == v  # NaN is missing
        c = (0.0 if start else c) + (1.0 if ok else 0.0)
        t = (0.0 if start else t) + (v if ok else 0.0)
        mn0 = np.nan if start else mn
        mx0 = np.nan if start else mx
        mn = v if (ok & ~(v >= mn0)) else mn0
        mx = v if (ok & ~(v <= mx0)) else mx0
        count[g] = c
        total[g] = t
        low[g] = mn
        high[g] = mx
    if want_var:
        mean = total / count
        ss = 0.0
        previous = -1
        for j in range(len(take)):
            g = number[j]
            v = x[take[j]]
            start = g != previous
            previous = g
            d = v - mean[g]
            ss = (0.0 if start else ss) + (d * d if v == v else 0.0)
            var[g] = ss
        for g in range(size):
            var[g] = var[g] / (count[g] - 1.0) if count[g] >= 2.0 else np.nan
    return count, total, low, high, var


@numba.njit(nogil=True, cache=True)
def place_floats(
    out: np.ndarray,
    dest: np.ndarray,
    start: int,
    data: np.ndarray,
    valid: np.ndarray,
    bit0: int,
    n: int,
) -> None:  # pragma: no cover
    """Write an Arrow Float64 chunk of ``n`` rows (input rows ``start ..``) into ``out``: row
    ``start + i`` to ``out[dest[start + i]]`` (``dest`` empty: to ``out[start + i]``), NaN
    where bit ``bit0 + i`` of the validity bitmap ``valid`` is 0 (``valid`` empty: no nulls).
    """
    keyed = len(dest) > 0
    if len(valid) == 0:
        if not keyed:
            out[start : start + n] = data[:n]
            return
        for i in range(n):
            out[dest[start + i]] = data[i]
        return
    for i in range(n):
        b = bit0 + i
        v = data[i] if (valid[b >> 3] >> (b & 7)) & 1 else np.nan
        out[dest[start + i] if keyed else start + i] = v


@numba.njit(nogil=True, cache=True)
def place_flags(
    out: np.ndarray,
    dest: np.ndarray,
    start: int,
    bits: np.ndarray,
    valid: np.ndarray,
    bit0: int,
    n: int,
) -> None:  # pragma: no cover
    """:func:`place_floats` for an Arrow Boolean chunk: 1.0/0.0 from its value bits (from bit
    ``bit0`` on, as its validity bits), NaN for nulls."""
    keyed = len(dest) > 0
    masked = len(valid) > 0
    for i in range(n):
        b = bit0 + i
        v = float((bits[b >> 3] >> (b & 7)) & 1)
        if masked and not (valid[b >> 3] >> (b & 7)) & 1:
            v = np.nan
        out[dest[start + i] if keyed else start + i] = v


@numba.njit(nogil=True, cache=True)
def whole_number_range(values: np.ndarray) -> tuple[bool, float, float]:  # pragma: no cover
    """(every non-missing value is a whole number, lowest, highest) in one pass; (False, NaN,
    NaN) when every value is missing."""
    whole = True
    low = np.inf
    high = -np.inf
    seen = False
    for i in range(len(values)):
        v = values[i]
        if v != v:
            continue
        seen = True
        if v < low:
            low = v
        if v > high:
            high = v
        if whole and v != np.floor(v):
            whole = False
    if not seen:
        return False, np.nan, np.nan
    return whole, low, high


@numba.njit(nogil=True, cache=True)
def key_range(keys: np.ndarray) -> tuple[int, int, bool]:  # pragma: no cover
    """(lowest, highest, non-decreasing) of int64 keys in one pass (at least one key)."""
    low = keys[0]
    high = keys[0]
    ascending = True
    for i in range(1, len(keys)):
        k = keys[i]
        if k < low:
            low = k
        if k > high:
            high = k
        if k < keys[i - 1]:
            ascending = False
    return low, high, ascending


@numba.njit(nogil=True, cache=True)
def counting_order(
    keys: np.ndarray, low: int, width: int, order: np.ndarray, dest: np.ndarray
) -> np.ndarray:  # pragma: no cover
    """A stable counting sort of int64 keys in ``low .. low + width - 1``: fills ``order``
    (the rows key by key, each key's rows in input order) and ``dest`` (``dest[i]``: the
    position of row ``i`` in ``order``); returns ``counts`` (``counts[v]``: the rows of key
    ``low + v``). The caller allocates the outputs (numpy: huge pages for big arrays)."""
    counts = np.zeros(width, dtype=np.int64)
    for i in range(len(keys)):
        counts[keys[i] - low] += 1
    nxt = np.empty(width, dtype=np.int64)
    total = 0
    for v in range(width):
        nxt[v] = total
        total += counts[v]
    for i in range(len(keys)):
        v = keys[i] - low
        order[nxt[v]] = i
        dest[i] = nxt[v]
        nxt[v] += 1
    return counts


@numba.njit(nogil=True, cache=True)
def last_n(x: np.ndarray, number: np.ndarray, n: int) -> np.ndarray:  # pragma: no cover
    """Positions of the rows a ``last: n`` window keeps, ascending: the rows (grouped:
    ``number`` non-decreasing) whose value is at least their group's ``n``-th highest value,
    duplicates counted — every non-missing row of a group with at most ``n`` of them. Missing
    values are never kept. That is ``rank(method="min", descending=True) <= n``.

    One pass per group keeps its ``n`` highest values in a small sorted buffer (most values
    only compare with the lowest of them), then a second pass picks the rows.
    """
    m = len(x)
    out = np.empty(m, dtype=np.int64)
    top = np.empty(max(n, 1))
    kept = 0
    j = 0
    while j < m:
        g = number[j]
        end = j
        filled = 0
        while end < m and number[end] == g:
            v = x[end]
            end += 1
            if v != v or (filled == n and not v > top[n - 1]):
                continue
            p = filled if filled < n else n - 1
            while p > 0 and top[p - 1] < v:
                top[p] = top[p - 1]
                p -= 1
            top[p] = v
            if filled < n:
                filled += 1
        threshold = top[n - 1] if filled == n and n > 0 else -np.inf
        for r in range(j, end):
            v = x[r]
            if v == v and v >= threshold and n > 0:
                out[kept] = r
                kept += 1
        j = end
    return out[:kept]


@numba.njit(nogil=True, cache=True)
def distinct_counts(
    x: np.ndarray,
    take: np.ndarray,
    number: np.ndarray,
    size: int,
    low: float,
    seen: np.ndarray,
    base: int,
) -> np.ndarray:  # pragma: no cover
    """Distinct non-missing values per group: row ``j`` is ``x[take[j]]`` of group
    ``number[j]``; the values are whole numbers from ``low`` on, and ``seen`` (one slot per
    possible value) holds the last group that had each value — groups are numbered from
    ``base`` so that ``seen`` carries over from chunk to chunk without clearing."""
    out = np.zeros(size)
    for j in range(len(take)):
        v = x[take[j]]
        if v == v:
            g = number[j]
            slot = int(v - low)
            if seen[slot] != base + g:
                seen[slot] = base + g
                out[g] += 1.0
    return out
