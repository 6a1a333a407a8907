"""Compose params.yaml from conf/ exactly as `dvc exp run` does (same DVC function).

`dvc repro` never re-composes, so after editing conf/ run `make params` and commit both files.
`python tools/compose_params.py --check` exits 1 when params.yaml is out of date (used in tests).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from dvc.utils.hydra import compose_and_dump

ROOT = Path(__file__).resolve().parents[1]


def compose(out: Path, overrides: list[str]) -> None:
    compose_and_dump(out, str(ROOT / "conf"), None, "config", str(ROOT), overrides)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--check", action="store_true", help="fail if params.yaml is stale")
    ap.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. model=logistic")
    args = ap.parse_args()
    target = ROOT / "params.yaml"
    if not args.check:
        compose(target, args.overrides)
        print(f"wrote {target}")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / "params.yaml"
        compose(fresh, args.overrides)
        if not target.exists() or fresh.read_text() != target.read_text():
            print(
                "params.yaml is out of date with conf/: run `make params` and commit it",
                file=sys.stderr,
            )
            return 1
    print("params.yaml is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
