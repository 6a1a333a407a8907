"""The numpy aggregation step of the Polars path gives what a plain per-group computation gives,
including the cases the default spec does not reach: sparse keys, text without known levels,
fractional values for nunique, rows without a key, an empty frame."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from scoring.features.segments import ColumnTask, Output, SegmentAggregator, SubsetTask


def aggregator(key_name: str = "K") -> SegmentAggregator:
    numbers = ColumnTask(
        "X",
        tuple(
            Output(f"X_{a.upper()}", a)
            for a in ("min", "max", "mean", "sum", "var", "count", "nunique")
        ),
    )
    text = ColumnTask("T", (Output("T_COUNT", "count"), Output("T_NUNIQUE", "nunique")))
    level = ColumnTask("E", (Output("E_A_SHARE", "share", "a"), Output("E_B_SHARE", "share", "b")))
    subset = ColumnTask("X", (Output("POS_X_SUM", "sum"), Output("POS_X_MIN", "min")))
    names = [o.name for task in (numbers, text, level, subset) for o in task.outputs]
    return SegmentAggregator(
        key_name,
        [SubsetTask(None, (numbers, text, level)), SubsetTask("M", (subset,))],
        names,
    )


def frame(keys: list[int | None]) -> pl.DataFrame:
    x = [1.5, None, 2.5, 2.5, -4.0, 0.25]
    return pl.DataFrame(
        {
            "K": keys,
            "X": x,
            "T": ["u", "v", None, "u", "w", None],
            "E": pl.Series(["a", "b", "a", None, "b", "a"], dtype=pl.Enum(["a", "b", "c"])),
            "M": [v is not None and v > 0 for v in x],
        },
        schema_overrides={"K": pl.Int64},
    )


@pytest.mark.parametrize("base", [10, 10**15], ids=["dense keys", "sparse keys"])
def test_values_match_a_plain_per_group_computation(base: int) -> None:
    keys = [base, base, base + 7, base, base * 3, base + 7]
    got = aggregator()(frame(keys))
    assert got.get_column("K").to_list() == sorted(set(keys))
    first = got.row(0, named=True)  # rows 0, 1, 3: X = 1.5, None, 2.5
    assert first["X_MIN"] == 1.5 and first["X_MAX"] == 2.5
    assert first["X_SUM"] == 4.0 and first["X_MEAN"] == 2.0 and first["X_COUNT"] == 2.0
    assert first["X_VAR"] == pytest.approx(0.5)
    assert first["X_NUNIQUE"] == 2.0
    assert first["T_COUNT"] == 3.0 and first["T_NUNIQUE"] == 2.0  # u, v, u
    assert first["E_A_SHARE"] == pytest.approx(1 / 3) and first["E_B_SHARE"] == pytest.approx(1 / 3)
    assert first["POS_X_SUM"] == 4.0 and first["POS_X_MIN"] == 1.5
    second = got.row(1, named=True)  # rows 2, 5: X = 2.5, 0.25; T missing twice
    assert second["X_NUNIQUE"] == 2.0 and second["T_COUNT"] == 0.0
    assert second["T_NUNIQUE"] == 0.0 and second["E_A_SHARE"] == 1.0
    last = got.row(2, named=True)  # row 4: X = -4 (not in the positive subset)
    assert last["X_VAR"] is None  # fewer than two values
    assert last["POS_X_SUM"] == 0.0 and last["POS_X_MIN"] is None  # empty subset


def test_rows_without_key_are_dropped_and_empty_input_gives_no_rows() -> None:
    agg = aggregator()
    got = agg(frame([None, 1, 1, None, 1, 1]))
    assert got.get_column("K").to_list() == [1]
    assert got.row(0, named=True)["X_COUNT"] == 3.0
    empty = agg(frame([1] * 6).head(0))
    assert empty.height == 0 and empty.schema == pl.Schema(agg.schema)


def test_a_groups_values_give_the_same_bits_alone_or_among_others() -> None:
    """The API path (one client's rows) and the batch (every client, rows in any order) reduce
    the same values in the same order, so sums, means and variances are bit-identical — not
    merely close."""
    rng = np.random.default_rng(0)
    values = rng.normal(size=3000) * 10.0 ** rng.integers(-3, 6, size=3000)
    keys = rng.integers(0, 50, size=3000)
    outputs = tuple(Output(a, a) for a in ("sum", "mean", "var"))
    agg = SegmentAggregator(
        "K", [SubsetTask(None, (ColumnTask("X", outputs),))], ["sum", "mean", "var"]
    )
    whole = agg(pl.DataFrame({"K": keys, "X": values}))  # unsorted: sorted stably inside
    for k in (0, 17, 49):
        alone = agg(pl.DataFrame({"K": keys[keys == k], "X": values[keys == k]}))
        assert alone.row(0) == whole.filter(pl.col("K") == k).row(0)


@pytest.mark.timeout(120)  # a deadlock between Polars' threads and the helpers would hang
def test_helper_threads_give_the_serial_values(monkeypatch: pytest.MonkeyPatch) -> None:
    """Big frames aggregate columns in helper threads while Polars runs several blocks at once
    (collect_all); the values are those of the serial path."""
    from scoring.features import FeatureBuilder, segments
    from scoring.features.sample import random_applications, random_history
    from tests.unit.test_features_spec import DEFAULT

    rng = np.random.default_rng(5)
    ids = np.arange(600_001, 600_201)
    apps = random_applications(ids, rng, train=True).drop(columns="TARGET")
    tables = {t: pl.from_pandas(f) for t, f in random_history(ids, rng).items()}
    builder = FeatureBuilder.from_spec(DEFAULT).fit(apps)
    serial = builder.build(apps, tables)
    monkeypatch.setattr(segments, "PARALLEL_ROWS", 0)
    monkeypatch.setattr(segments, "THREADS", 3)
    monkeypatch.setattr(segments, "CHUNK_ROWS", 64)  # many chunks of a few clients each
    threaded = builder.build(apps, tables)
    assert threaded.equals(serial)


@pytest.mark.parametrize("chunk_rows", [1, 7, 100, 1 << 17])
def test_chunk_size_does_not_change_any_bit(
    monkeypatch: pytest.MonkeyPatch, chunk_rows: int
) -> None:
    """Chunks are whole groups, so where the chunk edges fall cannot change a value — including
    distinct counts and masked subsets."""
    from scoring.features import segments

    rng = np.random.default_rng(3)
    n = 5000
    keys = np.repeat(rng.integers(0, 300, size=n // 10), 10)  # runs of 10, keys out of order
    values = rng.normal(size=n) * 1e3
    values[rng.random(n) < 0.1] = np.nan
    ids = rng.integers(0, 40, size=n).astype(np.float64)
    data = pl.DataFrame(
        {"K": keys, "X": values, "I": ids, "M": values > 0},
        schema_overrides={"K": pl.Int64},
    )
    stats = tuple(Output(f"X_{a}", a) for a in ("min", "max", "mean", "sum", "var", "count"))
    distinct = (Output("I_NUNIQUE", "nunique"),)
    masked = (Output("P_X_SUM", "sum"), Output("P_X_VAR", "var"))
    masked_distinct = (Output("P_I_NUNIQUE", "nunique"),)
    agg = SegmentAggregator(
        "K",
        [
            SubsetTask(None, (ColumnTask("X", stats), ColumnTask("I", distinct))),
            SubsetTask("M", (ColumnTask("X", masked), ColumnTask("I", masked_distinct))),
        ],
        [o.name for o in (*stats, *distinct, *masked, *masked_distinct)],
    )
    whole = agg(data)
    monkeypatch.setattr(segments, "CHUNK_ROWS", chunk_rows)
    monkeypatch.setattr(segments, "PARALLEL_ROWS", 0)
    assert agg(data).equals(whole)
    expected = data.group_by("K").agg(
        pl.col("I").n_unique(), pl.col("I").filter(pl.col("M")).n_unique().alias("P")
    )
    expected = expected.sort("K")
    assert (
        whole.get_column("I_NUNIQUE").to_list()
        == expected.get_column("I").cast(pl.Float64).to_list()
    )
    assert (  # each subset counts its own distinct values (the subsets share nothing)
        whole.get_column("P_I_NUNIQUE").to_list()
        == expected.get_column("P").cast(pl.Float64).to_list()
    )


@pytest.mark.parametrize(
    "keys",
    [
        [1, 1, 1, 2, 2, 3],  # sorted
        [5] * 4 + [2] * 3 + [5] * 5 + [1] * 2 + [2] * 6,  # runs out of order
        [3, 1, 2, 1, 3, 2, 1, 3],  # no runs
        [7],
        [-3, 10**6, -3, 0, 10**6, 17],  # negative, gaps (counting sort)
        [10**15, 3, 10**15, -(10**15), 3],  # a range far wider than the rows (argsort)
    ],
    ids=["sorted", "runs", "no runs", "one row", "gaps", "sparse"],
)
def test_key_groups_are_those_of_a_stable_argsort(keys: list[int]) -> None:
    from scoring.features.segments import _key_groups

    k = np.array(keys, dtype=np.int64)
    order, dest, starts, unique = _key_groups(k)
    expected = np.argsort(k, kind="stable")
    got = np.arange(len(k)) if order is None else order
    assert got.tolist() == expected.tolist()
    where = np.arange(len(k)) if dest is None else dest
    assert where[expected].tolist() == list(range(len(k)))  # dest inverts order
    assert unique.tolist() == sorted(set(keys))
    ordered = k[expected]
    assert starts.tolist() == [ordered.tolist().index(u) for u in unique.tolist()]


@pytest.mark.parametrize("whole", [True, False], ids=["whole numbers", "fractions"])
@pytest.mark.parametrize("chunk_rows", [5, 1 << 17])
def test_last_n_rows_are_those_polars_ranks_in(
    monkeypatch: pytest.MonkeyPatch, whole: bool, chunk_rows: int
) -> None:
    """A ``last: N, by: D`` subset keeps each key's rows whose ``D`` ranks (method="min",
    descending) at most N: ties at the N-th value are all kept, rows without ``D`` never, keys
    with fewer than N rows keep them all."""
    from scoring.features import segments

    monkeypatch.setattr(segments, "CHUNK_ROWS", chunk_rows)
    rng = np.random.default_rng(11)
    n = 3000
    keys = rng.integers(0, 400, size=n)  # ~7 rows per key, some with 1 or 2
    by = rng.integers(-30, 0, size=n).astype(np.float64)  # many ties
    if not whole:
        by = by / 7.0
    by[rng.random(n) < 0.15] = np.nan
    x = rng.normal(size=n)
    x[rng.random(n) < 0.1] = np.nan
    data = pl.DataFrame({"K": keys, "D": by, "X": x}, schema_overrides={"K": pl.Int64})
    outputs = (
        Output("L_X_SUM", "sum"),
        Output("L_X_COUNT", "count"),
        Output("L_X_MAX", "max"),
        Output("L_X_NUNIQUE", "nunique"),  # not whole numbers: the all-rows path needs a mask
    )
    names = [o.name for o in outputs]
    got = {}
    for last in (1, 3):
        agg = SegmentAggregator(
            "K", [SubsetTask(None, (ColumnTask("X", outputs),), last=("D", last))], names
        )
        got[last] = agg(data)
        ranked = (
            data.with_columns(pl.col("D").fill_nan(None))
            .filter(pl.col("D").rank(method="min", descending=True).over("K") <= last)
            .group_by("K")
            .agg(
                pl.col("X").fill_nan(None).sum().alias("L_X_SUM"),
                pl.col("X").fill_nan(None).count().cast(pl.Float64).alias("L_X_COUNT"),
                pl.col("X").fill_nan(None).max().alias("L_X_MAX"),
                pl.col("X")
                .fill_nan(None)
                .drop_nulls()
                .n_unique()
                .cast(pl.Float64)
                .alias("L_X_NUNIQUE"),
            )
        )
        expected = (
            data.select("K")
            .unique()
            .join(ranked, on="K", how="left")
            .with_columns(pl.col("L_X_SUM", "L_X_COUNT", "L_X_NUNIQUE").fill_null(0.0))
            .sort("K")
        )
        for name in names:
            assert got[last].get_column(name).to_numpy() == pytest.approx(
                expected.get_column(name).to_numpy(), nan_ok=True
            ), (last, name)
    assert not got[1].equals(got[3])  # the window matters


@pytest.mark.parametrize("n", [1, 2, 4])
def test_last_n_kernel_edge_cases(n: int) -> None:
    """Groups shorter than N, all missing, ties at the N-th value, N-th value repeated before
    higher ones: the kept rows are those Polars' rank(method="min", descending) keeps."""
    from scoring.features.kernels import last_n

    nan = np.nan
    groups = [
        [3.0],
        [nan, nan],
        [5.0, 5.0, 5.0],
        [1.0, 7.0, 7.0, 3.0, 7.0],
        [2.0, 2.0, 9.0, nan, 2.0, 4.0],
        [-1.0, -3.0, -2.0, -1.0],
    ]
    x = np.array([v for g in groups for v in g])
    number = np.repeat(np.arange(len(groups)), [len(g) for g in groups])
    frame = pl.DataFrame({"g": number, "x": x}).with_columns(pl.col("x").fill_nan(None))
    rank = pl.col("x").rank(method="min", descending=True).over("g")
    expected = frame.with_row_index().filter(rank <= n).get_column("index").to_list()
    assert last_n(x, number, n).tolist() == expected


def test_aligned_output_is_the_left_join_of_the_keys() -> None:
    """With ``align``, the output has one row per given key, in the given order (duplicates
    included), keys without rows at each feature's empty value — what the builder's left join
    and fill would give."""
    outputs = (Output("X_SUM", "sum"), Output("X_MAX", "max"))
    names = [o.name for o in outputs]
    data = pl.DataFrame({"K": [5, 3, 5, 9], "X": [1.0, 2.0, 4.0, None]})
    plain = SegmentAggregator("K", [SubsetTask(None, (ColumnTask("X", outputs),))], names)
    targets = np.array([9, 1, 5, 3, 5, 100], dtype=np.int64)
    aligned = SegmentAggregator(
        "K", [SubsetTask(None, (ColumnTask("X", outputs),))], names, align=(targets, [0.0, None])
    )
    expected = (
        pl.DataFrame({"K": targets})
        .join(plain(data), on="K", how="left", maintain_order="left")
        .with_columns(pl.col("X_SUM").fill_null(0.0))
    )
    got = aligned(data)
    assert got.equals(expected)
    assert got.get_column("X_SUM").to_list() == [0.0, 0.0, 5.0, 2.0, 5.0, 0.0]
    assert got.get_column("X_MAX").to_list() == [None, None, 4.0, 2.0, 4.0, None]
    empty = aligned(data.head(0))
    assert empty.get_column("K").to_list() == targets.tolist()
    assert empty.get_column("X_SUM").to_list() == [0.0] * 6


@pytest.mark.parametrize("chunk_rows", [2, 1 << 17])
def test_aligned_output_with_unique_keys_is_written_in_place(
    monkeypatch: pytest.MonkeyPatch, chunk_rows: int
) -> None:
    """Unique keys (the batch): each key's values go straight to its row — keys with rows but
    not asked for are dropped, asked keys without rows get the empty values, distinct counts
    of fractions (the Polars path) included."""
    from scoring.features import segments

    monkeypatch.setattr(segments, "CHUNK_ROWS", chunk_rows)
    monkeypatch.setattr(segments, "PARALLEL_ROWS", 0)
    outputs = (Output("X_SUM", "sum"), Output("X_MAX", "max"), Output("X_NUNIQUE", "nunique"))
    names = [o.name for o in outputs]
    data = pl.DataFrame(
        {"K": [5, 3, 7, 5, 9, 7, 3], "X": [1.5, 2.25, 8.0, 4.5, None, 8.0, 2.25]},
        schema_overrides={"K": pl.Int64},
    )
    tasks = [SubsetTask(None, (ColumnTask("X", outputs),))]
    targets = np.array([9, 1, 5, 3, 100], dtype=np.int64)  # 7 has rows but is not asked for
    got = SegmentAggregator("K", tasks, names, align=(targets, [0.0, None, 0.0]))(data)
    expected = (
        pl.DataFrame({"K": targets})
        .join(SegmentAggregator("K", tasks, names)(data), on="K", how="left", maintain_order="left")
        .with_columns(pl.col("X_SUM", "X_NUNIQUE").fill_null(0.0))
    )
    assert got.equals(expected)
    assert got.get_column("X_SUM").to_list() == [0.0, 0.0, 6.0, 4.5, 0.0]
    assert got.get_column("X_MAX").to_list() == [None, None, 4.5, 2.25, None]
    assert got.get_column("X_NUNIQUE").to_list() == [0.0, 0.0, 2.0, 1.0, 0.0]


def test_numbers_of_a_chunked_sliced_column_with_nulls_land_in_key_order() -> None:
    """Columns arrive in many chunks (parquet row groups), possibly sliced: every value lands in
    its place — in input order, or at its position in key order — missing ones as NaN, flags
    as 1/0."""
    from scoring.features.segments import _Numbers

    parts = [
        pl.Series([1.0, None, 3.0, 4.0, None, 6.0, 7.0, 8.0, 9.0]),
        pl.Series([10.0, 11.0]),
        pl.Series([None, 13.0, None]),
    ]
    whole = pl.concat(parts, rechunk=False)
    assert whole.n_chunks() == 3
    flags = pl.concat(
        [
            pl.Series([True, None, False, True, True, False, False, True, True, None]),
            pl.Series([False, True]),
        ],
        rechunk=False,
    )
    cases = (whole, whole.slice(2, 10), pl.Series([1, None, 3]), pl.Series([2.5, 3.5]))
    rng = np.random.default_rng(2)
    for series in (*cases, flags, flags.slice(3, 8), pl.Series([True, False])):
        expected = np.array([np.nan if v is None else float(v) for v in series.to_list()])
        np.testing.assert_array_equal(_Numbers(series).values(None), expected)
        dest = rng.permutation(len(series))
        placed = np.full(len(series) + 3, -1.0)  # a reused, longer buffer
        got = _Numbers(series).values(dest, placed)
        in_order = np.empty(len(series))
        in_order[dest] = expected
        np.testing.assert_array_equal(got, in_order)


def test_warm_up_compiles_every_kernel_signature_a_build_uses() -> None:
    """After ``compile_kernels`` (the API's warm-up), neither a batch build nor a request with
    history compiles anything: Arrow's read-only buffers give numba signatures of their own."""
    import pandas as pd

    from scoring.features import FeatureBuilder, kernels, segments
    from scoring.features.sample import random_applications, random_history
    from tests.unit.test_features_spec import DEFAULT

    rng = np.random.default_rng(5)
    ids = np.arange(600_001, 600_101)
    apps = random_applications(ids, rng, train=True).drop(columns="TARGET")
    tables = {  # shuffled: the keys need ordering
        t: pl.from_pandas(f).sample(fraction=1.0, shuffle=True, seed=1)
        for t, f in random_history(ids, rng).items()
    }
    builder = FeatureBuilder.from_spec(DEFAULT).fit(apps)
    segments.compile_kernels()
    dispatchers = [v for v in vars(kernels).values() if hasattr(v, "signatures")]
    before = {d.__name__: len(d.signatures) for d in dispatchers}
    builder.build(apps, tables)
    app = {k: (None if pd.isna(v) else v) for k, v in apps.iloc[0].to_dict().items()}
    builder.for_application(app, {"bureau": [{"SK_ID_BUREAU": 1, "SK_ID_CURR": int(ids[0])}]})
    assert {d.__name__: len(d.signatures) for d in dispatchers} == before
