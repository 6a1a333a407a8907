"""Write generated tables exactly in the Kaggle schema and text format.

Kaggle's CSVs were written by pandas: integer columns without a decimal point, float columns in
Python's shortest round-trip form (``1.0``, ``-1180.0``, ``0.035792000000000004``, and
``7.36e-05`` below 1e-4), an empty field for missing values, ``"Stone, brick"`` quoted. polars
writes the same text ~10x faster than pandas except below 1e-4 (``0.0000736``), so those few
values are rendered with Python's ``repr`` first.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl

from scoring.schema import table_schema
from scoring.synth.calibration import Cat

Format = Literal["csv", "csv.gz", "parquet"]
FORMATS: tuple[str, ...] = ("csv", "csv.gz", "parquet")
#: Python switches to scientific notation below this magnitude, polars does not.
_SCI_BELOW = 1e-4


def to_frame(table: str, cols: Mapping[str, np.ndarray | Cat]) -> pl.DataFrame:
    """Typed polars frame in Kaggle column order; fails loudly on any schema mismatch."""
    schema = table_schema(table)
    expected = schema.column_names
    missing = [c for c in expected if c not in cols]
    extra = [c for c in cols if c not in expected]
    if missing or extra:
        raise ValueError(
            f"{table}: generated columns differ from Kaggle: missing={missing} extra={extra}"
        )
    series: list[pl.Series] = []
    for spec in schema.columns:
        x = cols[spec.name]
        if spec.dtype == "str":
            if not isinstance(x, Cat):
                raise TypeError(f"{table}.{spec.name}: text column generated as numbers")
            used = np.unique(x.codes[x.codes >= 0])
            bad = sorted({x.levels[i] for i in used} - set(spec.levels or ()))
            if bad:
                raise ValueError(f"{table}.{spec.name}: levels {bad} are not Kaggle levels")
            idx = pl.Series(np.where(x.codes >= 0, x.codes, 0).astype(np.int32))
            idx = idx.set(pl.Series(x.codes < 0), None) if (x.codes < 0).any() else idx
            series.append(pl.Series(list(x.levels), dtype=pl.String).gather(idx).alias(spec.name))
            continue
        if isinstance(x, Cat):
            raise TypeError(f"{table}.{spec.name}: numeric column generated as text")
        arr = np.asarray(x)
        if spec.dtype == "int":
            if arr.dtype.kind == "f":
                bad_rows = np.flatnonzero(~np.isfinite(arr) | (arr != np.round(arr)))
                if bad_rows.size:
                    raise ValueError(
                        f"{table}.{spec.name}: int column has non-integer value "
                        f"{arr[bad_rows[0]]!r} at row {bad_rows[0]}"
                    )
            series.append(pl.Series(spec.name, arr.astype(np.int64)))
        else:
            series.append(pl.Series(spec.name, arr.astype(np.float64)).fill_nan(None))
    return pl.DataFrame(series)


def _kaggle_text(df: pl.DataFrame) -> pl.DataFrame:
    """Render the rare |x| < 1e-4 floats as Python does (``5e-05``); other values unchanged."""
    out = []
    for s in df.iter_columns():
        if s.dtype != pl.Float64:
            out.append(s)
            continue
        arr = s.to_numpy()
        with np.errstate(invalid="ignore"):
            tiny = np.flatnonzero(np.isfinite(arr) & (np.abs(arr) < _SCI_BELOW) & (arr != 0))
        if tiny.size == 0:
            out.append(s)
            continue
        text = s.cast(pl.String).scatter(tiny, [repr(float(v)) for v in arr[tiny]])
        out.append(text)
    return pl.DataFrame(out)


def write_table(df: pl.DataFrame, path: Path, fmt: Format) -> Path:
    """Write atomically (temp file + rename) so that a crash never leaves half a table."""
    tmp = path.with_name(f".{path.name}.tmp")
    if fmt == "parquet":
        df.write_parquet(tmp, compression="zstd", statistics=True)
    elif fmt == "csv":
        _kaggle_text(df).write_csv(tmp)
    elif fmt == "csv.gz":
        # polars' gzip stream has mtime 0 and no file name: same seed, same bytes
        _kaggle_text(df).write_csv(
            tmp, compression="gzip", compression_level=6, check_extension=False
        )
    else:
        raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS}")
    os.replace(tmp, path)
    return path
