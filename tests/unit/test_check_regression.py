"""The PR regression gate flags AUC drops and cost rises beyond tolerance, and nothing else."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location(
    "check_regression", ROOT / "tools/check_regression.py"
)
assert _spec and _spec.loader
check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check)

TOL = {"max_auc_drop": 0.005, "max_cost_per_client_increase": 0.02}
BASE = {"auc": 0.76, "cost_per_client": 0.50}


def test_within_tolerance_passes() -> None:
    assert check.regressions(BASE, {"auc": 0.758, "cost_per_client": 0.505}, TOL) == []


def test_improvement_passes() -> None:
    assert check.regressions(BASE, {"auc": 0.80, "cost_per_client": 0.40}, TOL) == []


def test_auc_drop_beyond_tolerance_fails() -> None:
    found = check.regressions(BASE, {"auc": 0.75, "cost_per_client": 0.50}, TOL)
    assert len(found) == 1 and "AUC dropped" in found[0]


def test_cost_rise_beyond_tolerance_fails() -> None:
    found = check.regressions(BASE, {"auc": 0.76, "cost_per_client": 0.52}, TOL)
    assert len(found) == 1 and "cost per client rose" in found[0]
