"""FeatureBuilder: the one entry point for training, batch scoring and the API.

Both paths run the same functions — :func:`application_features` (numpy, any number of rows)
and :func:`engine.client_features` (Narwhals plan, any number of rows) — so a single application
scored through :meth:`FeatureBuilder.for_application` gets exactly the features the batch stage
writes for that client. What differs is only how the input arrives (a parquet scan vs. a few
JSON records) and one shortcut: when no history records are supplied, the history features are
the precomputed no-history values, which is what the engine returns for a client absent from
every history table (tested).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import narwhals.stable.v2 as nw
import numpy as np
import pandas as pd
import polars as pl
import yaml
from polars.io.plugins import register_io_source

from scoring.features import engine, segments
from scoring.features.application import (
    application_features,
    application_row,
    columns_from_frame,
    evaluate_derived,
    evaluate_derived_row,
    fit_frequencies,
    row_plan,
)
from scoring.features.spec import CLIENT_KEY, FeatureDef, FeatureSpec, load_spec
from scoring.schema import HISTORY_TABLES, table_schema

logger = logging.getLogger(__name__)
Value = float | str | None
ARTIFACT_VERSION = 1
#: Keys accepted in an application mapping that are not features (ignored, never used).
IGNORED_APPLICATION_KEYS = frozenset({"TARGET"})
#: History rows processed together at most (blocks run concurrently up to this budget). 0: one
#: block at a time, biggest first — each block already keeps both cores busy (Polars plus the
#: engine's numpy helper threads); two at once only added ~1 GB to the peak RSS at full scale.
BATCH_ROWS = 0


class FeatureInputError(ValueError):
    """An application or history record the features cannot be built from.

    ``field`` is a dotted path (``history.bureau[2].AMT_CREDIT_SUM``) so that the API can answer
    a 4xx naming it.
    """

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class FeatureBuilder:
    """Build model features from the validated spec (and fitted frequency encodings).

    >>> builder = FeatureBuilder.from_spec("conf/features/default.yaml").fit(train_frame)
    >>> batch = builder.build(applications, scan_parquet_tables(...))   # Polars frame
    >>> one = builder.for_application({"AMT_CREDIT": 1e5, ...}, {"bureau": [...]})
    """

    def __init__(
        self,
        spec: FeatureSpec,
        frequencies: Mapping[str, Mapping[str, float]] | None = None,
    ) -> None:
        self.spec = spec
        self.frequencies: dict[str, dict[str, float]] | None = (
            None if frequencies is None else {k: dict(v) for k, v in frequencies.items()}
        )
        self.features: tuple[FeatureDef, ...] = spec.features
        self.feature_names: list[str] = [f.name for f in self.features]
        self._history_defaults: dict[str, Value] = {
            f.name: f.empty_value for b in spec.client_blocks for f in b.features
        }
        schema = table_schema("application_train")
        self._app_kinds = {f.name: f.kind for f in spec.application.raw}
        self._app_columns = [
            (f.name, schema.column(f.name).dtype, schema.column(f.name).levels, f.kind)
            for f in spec.application.raw
        ]
        self._app_known = set(self._app_kinds) | {CLIENT_KEY} | IGNORED_APPLICATION_KEYS
        self._cross_inputs = _cross_inputs(spec)
        self._row_plan = row_plan(spec.application.derived)
        self._cross_plan = row_plan(spec.cross)
        # Output template in model order: history defaults pre-filled, the rest overwritten.
        self._template: dict[str, Value] = {name: None for name in self.feature_names}
        self._template.update(self._history_defaults)
        #: What :meth:`for_application` computes from the application itself on every call (raw,
        #: derived, frequency and cross features); every other feature is a history feature,
        #: whose no-history value is in :attr:`no_history_template`.
        self.application_feature_names: tuple[str, ...] = tuple(
            n for n in self.feature_names if n not in self._history_defaults
        )
        self._block_tables = {b.name: _tables_of(spec, b.name) for b in spec.client_blocks}
        self._plans: _CachedPlans | None = None

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_spec(cls, source: str | Path | Mapping[str, Any]) -> FeatureBuilder:
        """An unfitted builder from a spec file, a params.yaml, or a parsed mapping."""
        return cls(load_spec(source))

    def fit(self, application_train: pd.DataFrame) -> FeatureBuilder:
        """A new builder with frequency encodings fitted on training applications only."""
        return FeatureBuilder(self.spec, fit_frequencies(self.spec.application, application_train))

    def save(self, path: str | Path) -> None:
        """Write the resolved spec + fitted state (``features.yaml`` of the model bundle)."""
        data = {
            "format_version": ARTIFACT_VERSION,
            "spec": _plain(self.spec.raw),
            "fitted": {"frequencies": self._fitted()},
        }
        Path(path).write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), "utf-8")

    @classmethod
    def load(cls, path: str | Path) -> FeatureBuilder:
        """Read what :meth:`save` wrote; the API builds its features from this file."""
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        if not isinstance(data, dict) or data.get("format_version") != ARTIFACT_VERSION:
            raise ValueError(f"{path}: not a feature artifact (format_version {ARTIFACT_VERSION})")
        fitted = data.get("fitted") or {}
        return cls(load_spec(data["spec"], where=f"{path}: spec"), fitted.get("frequencies"))

    def feature_list(self) -> dict[str, list[dict[str, str]]]:
        """The ``feature_list.json`` payload: every feature in model column order."""
        return {"features": [f.as_json() for f in self.features]}

    def _fitted(self) -> dict[str, dict[str, float]]:
        if self.frequencies is None and self.spec.application.frequency:
            raise RuntimeError("FeatureBuilder is not fitted: call .fit(application_train) first")
        return self.frequencies or {}

    # -- batch ----------------------------------------------------------------------------------
    def build(
        self,
        applications: pd.DataFrame,
        history: Mapping[str, Any],
        *,
        streaming: bool = False,
    ) -> pl.DataFrame:
        """``SK_ID_CURR`` + every feature, one row per application, in the input row order.

        ``history`` maps table names to frames of any Narwhals backend (a missing table means
        no history for anyone). ``TARGET`` is never read.

        Polars plans run on the in-memory engine by default: it adds each client's values in
        row order, exactly as :meth:`for_application` does, so the two paths agree to the last
        bit. ``streaming=True`` merges partial sums in another order (last-bit differences in
        sums and means; see docs/features.md for its speed and memory).
        """
        if CLIENT_KEY not in applications.columns:
            raise KeyError(f"application frame has no column {CLIENT_KEY!r}")
        n = len(applications)
        app = application_features(
            self.spec.application,
            self._fitted(),
            columns_from_frame(applications, self.spec.application),
            n,
        )
        keys = pl.DataFrame({CLIENT_KEY: applications[CLIENT_KEY].to_numpy(dtype=np.int64)})
        # numba's import and kernel load (~0.5 s) overlap Polars reading the first table; an
        # aggregation that comes sooner waits for it.
        threading.Thread(target=segments.compile_kernels, name="kernels", daemon=True).start()
        done: dict[str, pl.DataFrame] = {}
        plans = engine.client_features(
            self.spec, history, align=keys.get_column(CLIENT_KEY).to_numpy()
        )
        rows = engine.table_rows(history)
        sizes = {b: sum(rows.get(t, 0) for t in self._block_tables[b]) for b in plans}
        # Biggest inputs first, a few blocks at a time (both cores busy, bounded memory).
        for batch in engine.batches_by_rows(sizes, BATCH_ROWS):
            start = time.perf_counter()
            results = engine.collect_many([plans[b] for b in batch], streaming=streaming)
            for name, block in zip(batch, results, strict=True):
                if block.get_column(CLIENT_KEY).equals(keys.get_column(CLIENT_KEY)):
                    done[name] = block.drop(CLIENT_KEY)  # aligned by the engine (Polars path)
                    continue
                aligned = keys.join(block, on=CLIENT_KEY, how="left", maintain_order="left")
                fills = [
                    pl.col(f.name).fill_null(f.empty_value)
                    for f in self.spec.block(name).features
                    if f.empty_value is not None
                ]
                done[name] = aligned.drop(CLIENT_KEY).with_columns(fills)
                del aligned
            del results, block  # not held while the next batch runs
            logger.info(
                "%s: %d features from %s rows in %.1f s",
                "+".join(batch),
                sum(done[b].width for b in batch),
                f"{sum(sizes[b] for b in batch):,}",
                time.perf_counter() - start,
            )
        parts = [keys, _to_polars(app, self._app_kinds), *(done[name] for name in plans)]
        frame = pl.concat(parts, how="horizontal")
        del parts, done
        if self.spec.cross:
            needed = _cross_inputs(self.spec)
            cols: dict[str, Any] = {
                c: frame.get_column(c).to_numpy().astype(np.float64) for c in needed
            }
            evaluate_derived(self.spec.cross, cols, n)
            frame = frame.with_columns(
                pl.Series(d.name, cols[d.name], dtype=pl.Float64, nan_to_null=True)
                for d in self.spec.cross
            )
        return frame.select(CLIENT_KEY, *self.feature_names)

    # -- one application ------------------------------------------------------------------------
    def warm_up(self) -> FeatureBuilder:
        """Build the history plans now (≈0.5-1 s) rather than in the first request that has
        history records; call it once at API start-up. Returns ``self``."""
        if self._plans is None:
            self._plans = _CachedPlans(self.spec)
        segments.compile_kernels()
        return self

    @property
    def no_history_template(self) -> dict[str, Value]:
        """Every feature, history features at their no-history value, the others ``None``."""
        return dict(self._template)

    def for_application(
        self,
        application: Mapping[str, Any],
        history: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    ) -> dict[str, Value]:
        """Features of one raw application (+ optional history records), in model order.

        Missing values are ``None``. Raises :class:`FeatureInputError` naming the field for an
        unknown column, a value of the wrong type or an unknown category level.
        """
        values, sk_id = self._application_values(application)
        cols = application_row(self.spec.application, self._fitted(), values, self._row_plan)
        out = dict(self._template)
        for name, v in cols.items():
            out[name] = None if v != v else v  # NaN → None (v is a float, a str or None)
        if history:
            out.update(self._history_values(history, sk_id))
        if self.spec.cross:
            row = {c: _num(out[c]) for c in self._cross_inputs}
            evaluate_derived_row(self._cross_plan, row)
            for name, _ in self._cross_plan:
                v = row[name]
                out[name] = None if v != v else v
        return out

    def _application_values(
        self, application: Mapping[str, Any]
    ) -> tuple[dict[str, float | str | None], int]:
        """The raw columns as Python values (float, NaN = missing; str / None), validated."""
        if not isinstance(application, Mapping):
            raise FeatureInputError("application", "expected an object of column: value")
        for key in application:
            if key not in self._app_known:
                raise FeatureInputError(f"application.{key}", "unknown column")
        get = application.get
        values: dict[str, float | str | None] = {}
        nan = math.nan
        for name, dtype, levels, kind in self._app_columns:
            v = get(name)
            if v is None:
                values[name] = None if kind == "categorical" else nan
            elif (
                type(v) is float
                and v - v == 0.0
                and (dtype == "float" or (dtype == "int" and v.is_integer()))
            ):
                values[name] = v  # the common cases first: a finite number (API latency)
            elif type(v) is int and dtype != "str":
                values[name] = float(v)
            else:
                v = _checked(v, dtype, levels, f"application.{name}")
                if kind == "categorical":
                    values[name] = v
                else:
                    values[name] = nan if v is None else float(v)
        raw_id = _checked(get(CLIENT_KEY), "int", None, f"application.{CLIENT_KEY}")
        return values, int(raw_id) if raw_id is not None else 0

    def _history_values(
        self, history: Mapping[str, Sequence[Mapping[str, Any]]], sk_id: int
    ) -> dict[str, Value]:
        if not isinstance(history, Mapping):
            raise FeatureInputError("history", "expected an object of table: [records]")
        frames = {
            table: _records_frame(table, records, sk_id)
            for table, records in history.items()
            if _nonempty(table, records)
        }
        if not frames:
            return {}  # no records at all: the defaults already in the template
        wanted = [b for b, tables in self._block_tables.items() if tables & set(frames)]
        if self._plans is None:
            self._plans = _CachedPlans(self.spec)
        out: dict[str, Value] = {}
        for row in self._plans.run(frames, wanted):
            hits = row.filter(pl.col(CLIENT_KEY) == sk_id)
            if hits.height:
                out.update({k: v for k, v in hits.row(0, named=True).items() if k != CLIENT_KEY})
        return out


class _CachedPlans:
    """The engine's plans for every client-level block, built once, run on request data.

    Building the plans (translating ~1,000 Narwhals expressions) costs far more than running
    them on a few records, so the API must not rebuild them per request. The plans read their
    tables through Polars IO-source nodes whose data is swapped in for each call (under a lock:
    one call at a time per builder); the plans themselves are exactly those of the batch path.
    """

    def __init__(self, spec: FeatureSpec) -> None:
        self._lock = threading.Lock()
        self._current: dict[str, pl.DataFrame] = {}
        self._empty = {t: engine.empty_frame(t).collect() for t in HISTORY_TABLES}
        sources = {t: nw.from_native(self._source(t)) for t in HISTORY_TABLES}
        self._plans: dict[str, pl.LazyFrame] = {
            name: plan.to_native() for name, plan in engine.client_features(spec, sources).items()
        }

    def _source(self, table: str) -> pl.LazyFrame:
        def read(
            with_columns: list[str] | None,
            predicate: pl.Expr | None,
            n_rows: int | None,
            batch_size: int | None,
        ) -> Iterator[pl.DataFrame]:
            frame = self._current.get(table, self._empty[table])
            if with_columns is not None:
                frame = frame.select(with_columns)
            if predicate is not None:
                frame = frame.filter(predicate)
            if n_rows is not None:
                frame = frame.head(n_rows)
            yield frame

        return register_io_source(read, schema=self._empty[table].schema)

    def run(self, frames: Mapping[str, pl.DataFrame], blocks: Sequence[str]) -> list[pl.DataFrame]:
        with self._lock:
            self._current = dict(frames)
            try:
                return [self._plans[b].collect(engine="in-memory") for b in blocks]
            finally:
                self._current = {}


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def _tables_of(spec: FeatureSpec, block: str) -> set[str]:
    b = spec.block(block)
    out = {b.table}
    for j in b.joins:
        out |= _tables_of(spec, j.block)
    return out


def _cross_inputs(spec: FeatureSpec) -> list[str]:
    from scoring.features.expr import columns

    made = {d.name for d in spec.cross}
    need: set[str] = set()
    for d in spec.cross:
        need |= columns(d.node)
    return sorted(need - made)


def _to_polars(cols: Mapping[str, np.ndarray], kinds: Mapping[str, str]) -> pl.DataFrame:
    series = []
    for name, arr in cols.items():
        if kinds.get(name) == "categorical":
            series.append(pl.Series(name, arr.tolist(), dtype=pl.String))
        else:
            series.append(pl.Series(name, arr, dtype=pl.Float64, nan_to_null=True))
    return pl.DataFrame(series)


def _nonempty(table: str, records: Any) -> bool:
    if table not in HISTORY_TABLES:
        raise FeatureInputError(
            f"history.{table}", f"unknown table; expected one of {HISTORY_TABLES}"
        )
    if not isinstance(records, Sequence) or isinstance(records, str | bytes):
        raise FeatureInputError(f"history.{table}", "expected a list of records")
    return len(records) > 0


_PL_DTYPES = {"int": pl.Int64, "float": pl.Float64, "str": pl.String}


def _records_frame(table: str, records: Sequence[Mapping[str, Any]], sk_id: int) -> pl.DataFrame:
    """Typed frame from JSON-like records; every bad value is reported with its path."""
    schema = table_schema(table)
    names = set(schema.column_names)
    columns: dict[str, list[Any]] = {c.name: [] for c in schema.columns}
    for i, rec in enumerate(records):
        where = f"history.{table}[{i}]"
        if not isinstance(rec, Mapping):
            raise FeatureInputError(where, "expected an object of column: value")
        unknown = sorted(set(rec) - names)
        if unknown:
            raise FeatureInputError(f"{where}.{unknown[0]}", "unknown column")
        for c in schema.columns:
            value = _checked(rec.get(c.name), c.dtype, c.levels, f"{where}.{c.name}")
            if c.name == CLIENT_KEY:
                if value is None:
                    value = sk_id
                elif value != sk_id:
                    raise FeatureInputError(
                        f"{where}.{CLIENT_KEY}", f"{value} differs from the application's {sk_id}"
                    )
            columns[c.name].append(value)
    return pl.DataFrame(columns, schema={c.name: _PL_DTYPES[c.dtype] for c in schema.columns})


def _checked(value: Any, dtype: str, levels: Sequence[str] | None, field: str) -> Any:
    """Validate one raw value against its Kaggle dtype family; ``None``/NaN mean missing."""
    if value is None:
        return None
    kind = type(value)
    if dtype == "float" and kind is float:  # the common case, checked first (API latency)
        return None if value != value else _finite(value, field)
    if dtype == "str":
        if kind is not str and not isinstance(value, str):
            raise FeatureInputError(field, f"expected text, got {kind.__name__}")
        if levels is not None and value not in levels:
            raise FeatureInputError(field, f"unknown level {value!r}; allowed: {list(levels)}")
        return value
    if kind is bool or not isinstance(value, int | float | np.integer | np.floating):
        raise FeatureInputError(field, f"expected a number, got {kind.__name__}")
    if isinstance(value, float | np.floating) and math.isnan(value):
        return None
    _finite(float(value), field)
    if dtype == "int":
        if float(value) != int(value):
            raise FeatureInputError(field, f"expected a whole number, got {value}")
        return int(value)
    return float(value)


def _finite(value: float, field: str) -> float:
    if value in (math.inf, -math.inf):
        raise FeatureInputError(field, "expected a finite number")
    return value


def _num(value: Any) -> float:
    return math.nan if value is None else float(value)


def _clean(value: Any) -> Value:
    if value is None or isinstance(value, str):
        return value
    v = float(value)
    return None if v != v else v


def _plain(obj: Any) -> Any:
    """Mappings/sequences → plain dict/list so that ``yaml.safe_dump`` accepts them."""
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    return obj
