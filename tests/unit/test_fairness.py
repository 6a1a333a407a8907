"""Fairness metrics, checked against numbers worked out by hand on ten applicants."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scoring.fairness import age_band, disparity, fairness_report, group_rates, plot_fairness

# Group A (4): defaults [1, 1, 0, 0], refused [1, 0, 1, 0]
#   approval 2/4, TPR 1/2 (one of two defaulters refused), FPR 1/2, default rate 2/4
# Group B (5): defaults [1, 0, 0, 0, 0], refused [1, 0, 0, 0, 0]
#   approval 4/5, TPR 1/1, FPR 0/4, default rate 1/5
# Group C (1): a single repaying client, refused: approval 0, TPR undefined, FPR 1
Y = np.array([1, 1, 0, 0, 1, 0, 0, 0, 0, 0])
REFUSED = np.array([1, 0, 1, 0, 1, 0, 0, 0, 0, 1], dtype=bool)
GROUPS = pd.Series(["A"] * 4 + ["B"] * 5 + ["C"])


def test_group_rates_match_hand_computation() -> None:
    rates = group_rates(Y, REFUSED, GROUPS)
    assert rates.loc["A", ["n", "n_default"]].tolist() == [4, 2]
    assert rates.loc["A", ["approval_rate", "tpr", "fpr", "default_rate"]].tolist() == [
        0.5,
        0.5,
        0.5,
        0.5,
    ]
    assert rates.loc["B", ["approval_rate", "tpr", "fpr", "default_rate"]].tolist() == [
        pytest.approx(0.8),
        1.0,
        0.0,
        pytest.approx(0.2),
    ]
    assert rates.loc["C", "approval_rate"] == 0.0
    assert math.isnan(rates.loc["C", "tpr"])  # no defaulter: TPR is undefined, not 0
    assert rates.loc["C", "fpr"] == 1.0


def test_small_groups_do_not_decide_the_disparate_impact() -> None:
    rates = group_rates(Y, REFUSED, GROUPS)
    big_only = disparity(rates, min_group_size=2)
    assert big_only["disparate_impact"] == pytest.approx(0.5 / 0.8)
    assert big_only["least_approved_group"] == "A"
    assert big_only["most_approved_group"] == "B"
    assert big_only["tpr_gap"] == pytest.approx(0.5)
    assert big_only["fpr_gap"] == pytest.approx(0.5)
    # with the singleton counted, its zero approval rate drives the ratio to 0
    assert disparity(rates, min_group_size=1)["disparate_impact"] == 0.0
    # a single comparable group gives no ratio rather than a reassuring 1.0
    assert math.isnan(disparity(rates, min_group_size=5)["disparate_impact"])


def test_missing_attribute_values_stay_in_the_denominators() -> None:
    groups = pd.Series(["A", None, "A", None])
    rates = group_rates(np.array([1, 0, 0, 1]), np.array([True, False, False, True]), groups)
    assert rates["n"].to_dict() == {"A": 2, "missing": 2}


def test_age_bands_are_closed_on_the_left() -> None:
    days = pd.Series([-9131, -9132, -12800, -23742, -30000, None])  # 24.99, 25.00, 35, 65, 82
    bands = age_band(days, [25, 35, 45, 55, 65])
    assert bands.astype("object").where(bands.notna(), None).tolist() == [
        "<25",
        "25-34",
        "35-44",
        "65+",
        "65+",
        None,
    ]
    # reports list the bands youngest first, not in text order ("25-34" < "<25")
    rates = group_rates(np.zeros(6), np.zeros(6, dtype=bool), bands)
    assert rates.index.tolist() == ["<25", "25-34", "35-44", "65+", "missing"]
    with pytest.raises(ValueError, match="increasing"):
        age_band(days, [35, 25])


def test_report_is_valid_json_and_flags_low_disparate_impact(tmp_path: Path) -> None:
    attrs = pd.DataFrame({"CODE_GENDER": GROUPS, "FLAT": ["x"] * 10})
    report = fairness_report(Y, REFUSED, attrs, min_group_size=2, di_threshold=0.8)
    text = json.dumps(report, allow_nan=False)  # NaN would be invalid JSON for dvc metrics
    assert json.loads(text)["CODE_GENDER"]["groups"]["C"]["tpr"] is None
    assert report["approval_rate"] == pytest.approx(0.6)
    assert report["CODE_GENDER"]["below_di_threshold"] is True
    assert report["FLAT"]["disparate_impact"] is None
    assert report["FLAT"]["below_di_threshold"] is False
    png = plot_fairness(report, tmp_path / "fig" / "fairness.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
