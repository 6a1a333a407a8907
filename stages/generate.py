"""Stage `generate`: write the synthetic Home Credit files (the product's default data).

Writes the 8 Kaggle files (application_train ... credit_card_balance) in the exact Kaggle schema
and format, so every later stage runs unchanged on them or on real Kaggle CSVs
(`data.raw_dir`). Reads params ``seed`` and ``synth.{n_clients, n_test, format}``.

    python -m stages.generate --params params.yaml --out data/raw
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from scoring.config import load_params, section, setup_logging
from scoring.synth import FORMATS, generate
from scoring.synth.writer import Format

log = logging.getLogger("stages.generate")


@dataclass(frozen=True)
class GenerateParams:
    """``seed`` + the ``synth`` section of params.yaml, validated at the boundary."""

    seed: int
    n_clients: int
    n_test: int | None
    format: Format

    def __post_init__(self) -> None:
        for name in ("seed", "n_clients"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"params: {name} must be an integer, got {value!r}")
        if self.n_clients < 1:
            raise ValueError(f"params: synth.n_clients must be >= 1, got {self.n_clients}")
        if self.n_test is not None and (
            isinstance(self.n_test, bool) or not isinstance(self.n_test, int) or self.n_test < 0
        ):
            raise ValueError(f"params: synth.n_test must be null or >= 0, got {self.n_test!r}")
        if self.format not in FORMATS:
            raise ValueError(f"params: synth.format must be one of {FORMATS}, got {self.format!r}")

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> GenerateParams:
        if "seed" not in params:
            raise KeyError("params.yaml has no top-level 'seed'")
        synth = section(params, "synth")
        missing = [k for k in ("n_clients", "n_test", "format") if k not in synth]
        if missing:
            raise KeyError(f"params.yaml synth section lacks {missing}")
        return cls(
            seed=params["seed"],
            n_clients=synth["n_clients"],
            n_test=synth["n_test"],
            format=cast(Format, synth["format"]),
        )


def run(params: GenerateParams, out: Path) -> dict[str, Path]:
    """Generate all tables into ``out``; returns {table: path}."""
    return generate(params.n_clients, params.seed, out, params.format, params.n_test)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--out", required=True, help="directory for the 8 Kaggle files")
    args = ap.parse_args(argv)
    setup_logging()
    params = GenerateParams.from_params(load_params(args.params))
    start = time.perf_counter()
    paths = run(params, Path(args.out))
    log.info(
        "generated %d files for %d training clients (seed %d) in %.1f s -> %s",
        len(paths),
        params.n_clients,
        params.seed,
        time.perf_counter() - start,
        args.out,
    )


if __name__ == "__main__":
    main()
