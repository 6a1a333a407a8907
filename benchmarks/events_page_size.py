"""SQLite page size vs the cost of moving prediction events from the journal into SQL.

    .venv/bin/python benchmarks/events_page_size.py            # 305 features, 10 x 500 events
    .venv/bin/python benchmarks/events_page_size.py --features 952 --batches 20

An event stores the model's features as one JSON text (~10 KB for the 305 features the API
records with the pipeline's model). At SQLite's default 4 KB page that text spills over overflow
pages; :func:`scoring.events.make_engine` therefore creates new database files with 32 KB pages.
This script measures the flusher's work, ``insert_events`` of batches of 500 events in one
transaction each (as ``EventStore.flush``), into a fresh WAL database per page size, in one
run, and prints µs per event and the ratio to the 4 KB default. Features are encoded once, as
the journal does (``msgspec.Raw``).
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any, cast

import msgspec
import numpy as np

from scoring.events import PredictionEvent, create_tables, insert_events, make_engine

PAGE_SIZES = (4096, 8192, 16384, 32768, 65536)


def _events(n: int, n_features: int, rng: np.random.Generator) -> list[PredictionEvent]:
    values = rng.normal(size=(n, n_features)) * 1e4
    values[rng.uniform(size=values.shape) < 0.3] = np.nan
    names = [f"FEATURE_{j:04d}_MEAN" for j in range(n_features)]
    enc = msgspec.json.Encoder()
    out = []
    for i in range(n):
        feats = {k: (None if v != v else float(v)) for k, v in zip(names, values[i], strict=True)}
        out.append(
            PredictionEvent(
                request_id=f"bench-{i}",
                model_version="bench",
                endpoint="/v1/score",
                features=cast(Any, msgspec.Raw(enc.encode(feats))),  # as record_many stores it
                probability=0.1,
                decision="approved",
                threshold=0.3,
                latency_ms=1.0,
            )
        )
    return out


def measure(page_size: int, batches: list[list[PredictionEvent]], workdir: Path) -> float:
    """µs per event to insert every batch (one transaction each) into a new database."""
    db = workdir / f"events-{page_size}.db"
    # fix the page size before make_engine's own PRAGMA (which only applies to an empty file)
    raw = sqlite3.connect(db)
    raw.execute(f"PRAGMA page_size={page_size}")
    raw.execute("PRAGMA journal_mode=WAL")
    raw.close()
    engine = make_engine(f"sqlite:///{db}")
    create_tables(engine)
    with engine.connect() as conn:
        got = conn.exec_driver_sql("PRAGMA page_size").scalar()
    if got != page_size:
        raise SystemExit(f"page size {page_size} requested, database has {got}")
    t0 = time.perf_counter()
    for batch in batches:
        with engine.begin() as conn:
            insert_events(conn, batch)
    elapsed = time.perf_counter() - t0
    engine.dispose()
    return elapsed / sum(len(b) for b in batches) * 1e6


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--features", type=int, default=305, help="features per event (the API records 305)"
    )
    ap.add_argument("--batch", type=int, default=500, help="events per transaction")
    ap.add_argument("--batches", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3, help="best of N per page size")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    events = _events(args.batch * args.batches, args.features, rng)
    size = len(msgspec.json.encode(events[0]))
    batches = [events[i : i + args.batch] for i in range(0, len(events), args.batch)]
    results: dict[int, float] = {}
    for _ in range(args.repeats):  # interleaved, so drifting machine load hits every size
        for ps in PAGE_SIZES:
            with tempfile.TemporaryDirectory() as tmp:
                us = measure(ps, batches, Path(tmp))
            results[ps] = min(results.get(ps, float("inf")), us)
    print(f"{len(events)} events of {args.features} features ({size:,} bytes of JSON each),")
    print(f"batches of {args.batch} per transaction, best of {args.repeats}:")
    print("| page size | µs per event | 4 KB time ÷ this |")
    print("|---:|---:|---:|")
    for ps, us in results.items():
        print(f"| {ps // 1024} KB | {us:.1f} | {results[4096] / us:.2f}× |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
