"""Benchmark: the feature engine against a straightforward pandas implementation of the same spec.

    .venv/bin/python benchmarks/features_bench.py --data /work/fullscale/parquet
    .venv/bin/python benchmarks/features_bench.py --smoke 2000      # small generated data

``--data`` is a folder of ``<table>.parquet`` as written by the ingest stage (Kaggle columns and
dtypes; full scale = Kaggle row counts). Each implementation runs in its own fresh subprocess,
so wall time includes reading the parquet files and the peak RSS (from ``wait4``) is that
process's alone. Both compute every feature of the spec for every application (train + test):
history aggregation, pre-joins, application features, cross features. The runs are sequential —
one full-scale job at a time on a shared machine. The script then checks that both produced the
same values on a sample of clients, and prints wall time, peak RSS and the ratio.

Implementations: ``engine`` (FeatureBuilder.build: Narwhals on Polars, in-memory engine, the
stage default), ``engine-streaming`` (same plan on Polars' streaming engine), ``engine-duckdb``
(the same engine code on DuckDB relations), ``pandas`` (benchmarks/pandas_reference.py).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SPEC = ROOT / "conf" / "features" / "default.yaml"
IMPLEMENTATIONS = ("engine", "engine-streaming", "engine-duckdb", "pandas")
SAMPLE_ROWS = 3000


def worker(implementation: str, data: Path, spec_path: Path, sample_out: Path) -> dict[str, Any]:
    """Compute all features with one implementation; return shape and timings."""
    start = time.perf_counter()
    from scoring.features import FeatureBuilder, scan_parquet_tables
    from scoring.schema import HISTORY_TABLES

    train = pd.read_parquet(data / "application_train.parquet")
    test_path = data / "application_test.parquet"
    test = pd.read_parquet(test_path) if test_path.is_file() else train.iloc[:0]
    builder = FeatureBuilder.from_spec(spec_path).fit(train)
    apps = pd.concat([train.drop(columns="TARGET"), test.drop(columns="TARGET", errors="ignore")])
    apps = apps.reset_index(drop=True)
    del train, test
    loaded = time.perf_counter()
    if implementation == "pandas":
        import pandas_reference  # this script's folder is on sys.path (run as a script)

        assert builder.frequencies is not None
        frame = pandas_reference.build(builder.spec, builder.frequencies, apps, data)
        shape = frame.shape
        sample = frame.iloc[:: max(1, len(frame) // SAMPLE_ROWS)]
    else:
        history: dict[str, Any] = dict(scan_parquet_tables(data, set(HISTORY_TABLES)))
        if implementation == "engine-duckdb":  # the same engine code on another backend
            import duckdb

            con = duckdb.connect()
            history = {
                t: con.read_parquet(str(data / f"{t}.parquet"))
                for t in HISTORY_TABLES
                if (data / f"{t}.parquet").is_file()
            }
        out = builder.build(apps, history, streaming=implementation == "engine-streaming")
        shape = out.shape
        sample = out.gather_every(max(1, out.height // SAMPLE_ROWS)).to_pandas()
    done = time.perf_counter()
    sample.to_parquet(sample_out, index=False)
    return {
        "implementation": implementation,
        "rows": shape[0],
        "columns": shape[1],
        "seconds_applications": round(loaded - start, 2),
        "seconds_features": round(done - loaded, 2),
    }


def run_isolated(implementation: str, data: Path, spec: Path, tmp: Path) -> dict[str, Any]:
    """One implementation in a fresh process: wall time and that process's peak RSS."""
    sample = tmp / f"{implementation}.parquet"
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        implementation,
        "--data",
        str(data),
        "--spec",
        str(spec),
        "--sample-out",
        str(sample),
    ]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    assert proc.stdout is not None
    output = proc.stdout.read()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{implementation} worker failed (exit {proc.returncode})")
    result: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    result["wall_seconds"] = round(wall, 2)
    result["peak_rss_gb"] = round(usage.ru_maxrss / 1024**2, 2)  # ru_maxrss is in KiB on Linux
    result["cpu_seconds"] = round(usage.ru_utime + usage.ru_stime, 1)
    result["sample"] = str(sample)
    return result


def compare_samples(a: Path, b: Path) -> tuple[int, int]:
    """(columns that differ beyond 1e-9 relative, columns compared) on the sampled clients."""
    x, y = pd.read_parquet(a), pd.read_parquet(b)
    if list(x.columns) != list(y.columns) or len(x) != len(y):
        return -1, len(x.columns)
    differ = 0
    for col in x.columns:
        if x[col].dtype == object or y[col].dtype == object:
            same = x[col].fillna("<NA>").astype(str).equals(y[col].fillna("<NA>").astype(str))
        else:
            same = np.allclose(
                x[col].to_numpy(np.float64),
                y[col].to_numpy(np.float64),
                rtol=1e-9,
                atol=1e-9,
                equal_nan=True,
            )
        differ += not same
    return differ, len(x.columns)


def latency(data: Path, spec_path: Path, n_clients: int) -> dict[str, float]:
    """API path timings: ``for_application`` without history, and with each client's records.

    History records are gathered from the parquet files beforehand (not timed), in file order,
    as an API caller would send them.
    """
    import math

    import polars as pl

    from scoring.features import FeatureBuilder
    from scoring.schema import HISTORY_TABLES

    train = pd.read_parquet(data / "application_train.parquet")
    builder = FeatureBuilder.from_spec(spec_path).fit(train)
    sample = train.drop(columns="TARGET").sample(n_clients, random_state=0)
    apps: list[dict[str, Any]] = [
        {
            str(k): (None if pd.isna(v) else (v.item() if hasattr(v, "item") else v))
            for k, v in r.items()
        }
        for r in sample.to_dict("records")
    ]
    ids = [a["SK_ID_CURR"] for a in apps]
    tables = {t: pl.scan_parquet(data / f"{t}.parquet") for t in HISTORY_TABLES}
    found = {
        t: tables[t].filter(pl.col("SK_ID_CURR").is_in(ids)).collect()
        for t in HISTORY_TABLES
        if t != "bureau_balance"
    }
    credits = found["bureau"]["SK_ID_BUREAU"].to_list()
    balance = tables["bureau_balance"].filter(pl.col("SK_ID_BUREAU").is_in(credits)).collect()

    def records(frame: pl.DataFrame) -> list[dict[str, Any]]:
        return [
            {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
            for r in frame.iter_rows(named=True)
        ]

    builder.for_application(apps[0], {"bureau": [{"SK_ID_BUREAU": 1}]})  # builds the plans once
    no_history, with_history, n_records = [], [], []
    for app in apps:
        for _ in range(20):
            start = time.perf_counter()
            builder.for_application(app)
            no_history.append(time.perf_counter() - start)
        own = {t: f.filter(pl.col("SK_ID_CURR") == app["SK_ID_CURR"]) for t, f in found.items()}
        own_credits = own["bureau"]["SK_ID_BUREAU"].to_list()
        own["bureau_balance"] = balance.filter(pl.col("SK_ID_BUREAU").is_in(own_credits))
        history = {t: records(f) for t, f in own.items()}
        n_records.append(sum(len(v) for v in history.values()))
        start = time.perf_counter()
        builder.for_application(app, history)
        with_history.append(time.perf_counter() - start)

    def pct(values: list[float], q: float) -> float:
        return round(1000 * float(np.percentile(values, q)), 3)

    return {
        "no_history_p50_ms": pct(no_history, 50),
        "no_history_p99_ms": pct(no_history, 99),
        "with_history_p50_ms": pct(with_history, 50),
        "with_history_p99_ms": pct(with_history, 99),
        "history_records_median": float(np.median(n_records)),
    }


def row_counts(data: Path) -> dict[str, int]:
    import pyarrow.parquet as pq

    return {p.stem: pq.ParquetFile(p).metadata.num_rows for p in sorted(data.glob("*.parquet"))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--data", type=Path, help="folder of <table>.parquet (ingest output)")
    parser.add_argument("--smoke", type=int, help="generate this many clients instead of --data")
    parser.add_argument("--spec", type=Path, default=DEFAULT_SPEC)
    parser.add_argument(
        "--implementations", default="engine,pandas", help=f"comma list of {IMPLEMENTATIONS}"
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--latency", type=int, metavar="N", help="time the API path for N clients, then stop"
    )
    parser.add_argument("--worker", choices=IMPLEMENTATIONS, help=argparse.SUPPRESS)
    parser.add_argument("--sample-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.data, args.spec, args.sample_out)), flush=True)
        return 0
    chosen = [i.strip() for i in args.implementations.split(",") if i.strip()]
    unknown = sorted(set(chosen) - set(IMPLEMENTATIONS))
    if unknown:
        parser.error(f"unknown implementation(s) {unknown}; choose from {IMPLEMENTATIONS}")
    with tempfile.TemporaryDirectory(prefix="features_bench_") as tmp_dir:
        tmp = Path(tmp_dir)
        data = args.data
        if args.smoke:
            from scoring.features.sample import KAGGLE_FANOUT, write_interim

            data = tmp / "data"
            write_interim(data, n_train=args.smoke, n_test=args.smoke // 6, fanout=KAGGLE_FANOUT)
        if data is None or not data.is_dir():
            parser.error("give --data <folder of parquet files> or --smoke N")
        if args.latency:
            print(json.dumps(latency(data, args.spec, args.latency)))
            return 0
        counts = row_counts(data)
        print(f"data: {data}  rows: {counts}")
        print(f"cpu cores: {os.cpu_count()}  load average: {os.getloadavg()}")
        results = []
        for implementation in chosen:
            res = run_isolated(implementation, data, args.spec, tmp)
            results.append(res)
            print(
                f"{implementation:>17}: {res['wall_seconds']:8.1f} s wall "
                f"({res['seconds_features']:.1f} s features), {res['cpu_seconds']:.0f} s CPU, "
                f"peak RSS {res['peak_rss_gb']:.2f} GB, output {res['rows']} x {res['columns']}",
                flush=True,
            )
        by_name = {r["implementation"]: r for r in results}
        summary: dict[str, Any] = {"rows": counts, "results": results}
        if "pandas" in by_name:
            base = by_name["pandas"]
            for name, res in by_name.items():
                if name == "pandas":
                    continue
                ratio = base["wall_seconds"] / res["wall_seconds"]
                cpu_ratio = base["cpu_seconds"] / res["cpu_seconds"]
                differ, total = compare_samples(Path(res["sample"]), Path(base["sample"]))
                summary[f"speedup_{name}"] = round(ratio, 2)
                summary[f"cpu_ratio_{name}"] = round(cpu_ratio, 2)
                summary[f"differing_columns_{name}"] = differ
                print(
                    f"{name} vs pandas: {ratio:.1f}x faster (wall; {cpu_ratio:.1f}x less CPU), "
                    f"peak RSS {res['peak_rss_gb']:.2f} GB "
                    f"vs {base['peak_rss_gb']:.2f} GB; same values on sampled clients: "
                    f"{total - differ}/{total} columns"
                )
        for r in results:
            r.pop("sample")
        if args.json:
            args.json.write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))  # run as a script: make `scoring` / `benchmarks` importable
    raise SystemExit(main())
