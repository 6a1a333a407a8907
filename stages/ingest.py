"""DVC stage ``ingest``: validate the raw Kaggle files and write one typed parquet per table.

    python -m stages.ingest --params params.yaml --out data/interim

Reads the single param ``data.raw_dir`` (Kaggle CSVs, ``.csv.gz`` or ``.parquet``). Writes
``<out>/<table>.parquet`` for all 8 tables (absent optional tables as empty typed tables) and
logs, per table, rows, columns, missing-cell share and, for application_train, the class balance.
On invalid data it logs the :class:`~scoring.ingest.IngestError` (file, column, example rows)
and exits with status 1, without a traceback: the message is the useful part.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from scoring.ingest import IngestError, TableSummary, iter_ingest, summarize, write_table_parquet

logger = logging.getLogger("stages.ingest")


@dataclass(frozen=True)
class IngestParams:
    """The params this stage declares in dvc.yaml (``data.raw_dir``), nothing else."""

    raw_dir: Path


def load_params(path: Path) -> IngestParams:
    """Read ``data.raw_dir`` from params.yaml; a missing key fails naming file and key."""
    params = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    raw_dir = (params.get("data") or {}).get("raw_dir") if isinstance(params, dict) else None
    if not raw_dir:
        raise IngestError(path, "missing param data.raw_dir")
    return IngestParams(raw_dir=Path(raw_dir))


def run(params: IngestParams, out_dir: Path) -> list[TableSummary]:
    """Ingest table by table, writing and freeing each before the next (peak RAM = one table)."""
    summaries = []
    for name, source, frame in iter_ingest(params.raw_dir):
        write_table_parquet(frame, out_dir / f"{name}.parquet")
        summary = summarize(name, frame, source)
        logger.info("%s", summary.describe())
        summaries.append(summary)
        del frame  # else the previous table stays alive while the next one is read
    return summaries


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--out", type=Path, required=True, help="directory for <table>.parquet")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        run(load_params(args.params), args.out)
    except IngestError as exc:
        logger.error("ingest failed: %s", exc)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
