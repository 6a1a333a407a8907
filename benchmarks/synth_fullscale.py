"""Full-scale synthetic data benchmark: Kaggle-size tables, wall time and peak memory.

Generates 307 511 training + 48 744 test clients (Kaggle's sizes; ~27 M bureau_balance rows) in
a child process, then prints the wall time, the child's peak resident memory (getrusage
``ru_maxrss``) and the rows and size of every file. Run it once, outside the repository::

    .venv/bin/python benchmarks/synth_fullscale.py --out /work/fullscale/raw
    .venv/bin/python benchmarks/synth_fullscale.py --format parquet --out /work/fullscale/parquet

``--json FILE`` also writes the figures as JSON (for the README table).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import polars as pl

from scoring.schema import ALL_TABLES
from scoring.synth import FORMATS, KAGGLE_TEST, KAGGLE_TRAIN, file_name

#: Full Kaggle row counts, for comparison.
KAGGLE_ROWS = {
    "application_train": 307_511,
    "application_test": 48_744,
    "bureau": 1_716_428,
    "bureau_balance": 27_299_925,
    "previous_application": 1_670_214,
    "POS_CASH_balance": 10_001_358,
    "installments_payments": 13_605_401,
    "credit_card_balance": 3_840_312,
}


def count_rows(path: Path, fmt: str) -> int:
    if fmt == "parquet":
        return int(pl.scan_parquet(path).select(pl.len()).collect().item())
    return int(pl.scan_csv(path, infer_schema=False).select(pl.len()).collect().item())


def run(n_clients: int, n_test: int, seed: int, out: Path, fmt: str) -> dict[str, object]:
    cmd = [
        sys.executable,
        "-m",
        "scoring.synth",
        "--n-clients",
        str(n_clients),
        "--n-test",
        str(n_test),
        "--seed",
        str(seed),
        "--out",
        str(out),
        "--format",
        fmt,
    ]
    start = time.perf_counter()
    subprocess.run(cmd, check=True)
    wall = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # Linux: KiB
    tables = {}
    for table in ALL_TABLES:
        path = out / file_name(table, fmt)
        tables[table] = {
            "rows": count_rows(path, fmt),
            "kaggle_rows": KAGGLE_ROWS[table],
            "mib": round(path.stat().st_size / 2**20, 1),
        }
    return {
        "n_clients": n_clients,
        "n_test": n_test,
        "seed": seed,
        "format": fmt,
        "wall_seconds": round(wall, 1),
        "peak_rss_mib": round(peak_mib),
        "tables": tables,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="output folder (outside the repo)")
    ap.add_argument("--format", choices=FORMATS, default="csv")
    ap.add_argument("--n-clients", type=int, default=KAGGLE_TRAIN)
    ap.add_argument("--n-test", type=int, default=KAGGLE_TEST)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args(argv)
    report = run(args.n_clients, args.n_test, args.seed, args.out, args.format)
    print(f"\n{args.n_clients} + {args.n_test} clients, format {args.format}, seed {args.seed}")
    print(f"wall time {report['wall_seconds']} s, peak RSS {report['peak_rss_mib']} MiB")
    print(f"{'table':<24}{'rows':>12}{'Kaggle rows':>13}{'MiB':>9}")
    tables = report["tables"]
    assert isinstance(tables, dict)
    for table, t in tables.items():
        print(f"{table:<24}{t['rows']:>12,}{t['kaggle_rows']:>13,}{t['mib']:>9}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
