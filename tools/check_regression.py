"""Fail a pull request whose holdout metrics regress beyond the tolerances in conf/regression.

Compares ``metrics/test.json`` in the working tree (just reproduced by CI) with the committed one
on the base branch (``git show <base>:metrics/test.json``). Exit 0 when within tolerance or when
the base has no metrics yet; exit 1 with one line per regression otherwise.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml


def regressions(base: dict[str, Any], head: dict[str, Any], tol: dict[str, float]) -> list[str]:
    """The regressions of ``head`` against ``base`` (empty when within tolerance)."""
    out = []
    auc_drop = float(base["auc"]) - float(head["auc"])
    if auc_drop > tol["max_auc_drop"]:
        out.append(
            f"AUC dropped by {auc_drop:.4f} ({base['auc']:.4f} -> {head['auc']:.4f}), "
            f"tolerance {tol['max_auc_drop']}"
        )
    b, h = float(base["cost_per_client"]), float(head["cost_per_client"])
    rel = (h - b) / b if b > 0 else 0.0
    if rel > tol["max_cost_per_client_increase"]:
        out.append(
            f"business cost per client rose by {rel:.1%} ({b:.4f} -> {h:.4f}), "
            f"tolerance {tol['max_cost_per_client_increase']:.1%}"
        )
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--base-ref", required=True, help="git ref of the base branch")
    ap.add_argument("--metrics", default="metrics/test.json")
    ap.add_argument("--params", default="params.yaml")
    args = ap.parse_args()
    tol = yaml.safe_load(Path(args.params).read_text())["regression"]
    shown = subprocess.run(
        ["git", "show", f"{args.base_ref}:{args.metrics}"], capture_output=True, text=True
    )
    if shown.returncode != 0:
        print(f"no {args.metrics} on {args.base_ref}: nothing to compare")
        return 0
    base = json.loads(shown.stdout)
    head = json.loads(Path(args.metrics).read_text())
    found = regressions(base, head, tol)
    for line in found:
        print(f"REGRESSION: {line}", file=sys.stderr)
    if not found:
        print("metrics within tolerance of the base branch")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
