"""CLI: ``python -m scoring.synth --n-clients N --seed S --out DIR [--format csv]``."""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from scoring.synth import FORMATS, generate


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m scoring.synth",
        description="Write the 8 Kaggle Home Credit files with synthetic clients.",
    )
    parser.add_argument("--n-clients", type=int, required=True, help="rows of application_train")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--format", choices=FORMATS, default="csv")
    parser.add_argument(
        "--n-test",
        type=int,
        default=None,
        help="rows of application_test (default: Kaggle's ratio 48744/307511)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    start = time.perf_counter()
    paths = generate(args.n_clients, args.seed, args.out, args.format, args.n_test)
    for table, path in paths.items():
        print(f"{table:<24} {path}")
    print(f"done in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
