"""``generate()``: the 8 Kaggle files for ``n_clients`` synthetic training clients."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from scoring.schema import APPLICATION_TEST, APPLICATION_TRAIN
from scoring.synth.application import Column, generate_applications
from scoring.synth.bureau import generate_bureau
from scoring.synth.calibration import load_calibration
from scoring.synth.previous import generate_previous
from scoring.synth.writer import FORMATS, Format, to_frame, write_table

log = logging.getLogger(__name__)

#: Kaggle: 307 511 training and 48 744 test clients.
KAGGLE_TRAIN, KAGGLE_TEST = 307_511, 48_744


def default_n_test(n_clients: int) -> int:
    """application_test size at Kaggle's test/train ratio (48 744 / 307 511)."""
    return round(n_clients * KAGGLE_TEST / KAGGLE_TRAIN)


def file_name(table: str, fmt: str) -> str:
    return f"{table}.{fmt}"


def generate(
    n_clients: int,
    seed: int,
    out_dir: Path | str,
    fmt: Format = "csv",
    n_test: int | None = None,
) -> dict[str, Path]:
    """Write the 8 Kaggle tables for ``n_clients`` training clients; return {table: path}.

    ``n_test`` defaults to Kaggle's ratio. The same (n_clients, n_test, seed, fmt) gives
    byte-identical files: every random draw comes from ``seed`` through independent streams
    per table family.
    """
    if not isinstance(n_clients, int) or n_clients < 1:
        raise ValueError(f"n_clients must be a positive integer, got {n_clients!r}")
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
    n_test = default_n_test(n_clients) if n_test is None else n_test
    if not isinstance(n_test, int) or n_test < 0:
        raise ValueError(f"n_test must be a non-negative integer or None, got {n_test!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    calib = load_calibration()
    app_seq, bureau_seq, prev_seq = np.random.SeedSequence(seed).spawn(3)
    paths: dict[str, Path] = {}

    def write(table: str, cols: dict[str, Column]) -> None:
        start = time.perf_counter()
        df = to_frame(table, cols)
        paths[table] = write_table(df, out / file_name(table, fmt), fmt)
        log.info("%s: %d rows written in %.1f s", table, df.height, time.perf_counter() - start)

    apps = generate_applications(calib, np.random.default_rng(app_seq), n_clients, n_test)
    is_test = apps.clients.is_test
    train_cols = {k: _take(v, ~is_test) for k, v in apps.columns.items()}
    write(APPLICATION_TRAIN, train_cols)
    del train_cols
    test_cols = {k: _take(v, is_test) for k, v in apps.columns.items() if k != "TARGET"}
    write(APPLICATION_TEST, test_cols)
    del test_cols
    clients = apps.clients
    del apps

    for table, cols in generate_bureau(calib, np.random.default_rng(bureau_seq), clients):
        write(table, cols)
        del cols  # free each table before the next one is built
    for table, cols in generate_previous(calib, np.random.default_rng(prev_seq), clients):
        write(table, cols)
        del cols
    return paths


def _take(x: Column, mask: np.ndarray) -> Column:
    return x.take(np.flatnonzero(mask)) if not isinstance(x, np.ndarray) else x[mask]
