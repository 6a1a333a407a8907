"""The feature spec: a mistake gives a message naming where it is and what is allowed; the
default spec has the promised breadth and a readable label for every feature."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from scoring.features import SpecError, load_spec
from scoring.features.spec import FeatureSpec

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "conf" / "features" / "default.yaml"

SMALL: dict[str, Any] = {
    "version": 1,
    "label_template": "{column} ({agg}) — {table}{subset}",
    "agg_labels": {
        "min": "lowest",
        "max": "highest",
        "mean": "average",
        "sum": "total",
        "var": "variance",
        "count": "number",
        "nunique": "distinct",
        "share": "share",
    },
    "application": {
        "derived": {"CREDIT_INCOME_RATIO": {"expr": "AMT_CREDIT / AMT_INCOME_TOTAL", "label": "x"}}
    },
    "history": {
        "BB": {
            "table": "bureau_balance",
            "key": "SK_ID_BUREAU",
            "label": "months",
            "aggregate": [{"columns": {"MONTHS_BALANCE": ["count"]}}],
        },
        "BURO": {
            "table": "bureau",
            "key": "SK_ID_CURR",
            "label": "bureau credits",
            "joins": [{"block": "BB", "through": "SK_ID_BUREAU"}],
            "subsets": {"ACTIVE": {"where": "CREDIT_ACTIVE == 'Active'", "label": "active"}},
            "aggregate": [
                {"subsets": ["ALL", "ACTIVE"], "columns": {"AMT_CREDIT_SUM": ["sum", "mean"]}}
            ],
        },
    },
}


def mutate(path: str, value: Any) -> dict[str, Any]:
    """SMALL with the dotted ``path`` set to ``value`` (``"-"`` deletes the key)."""
    spec = copy.deepcopy(SMALL)
    node: Any = spec
    parts = path.split(".")
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    last = parts[-1]
    if value == "-":
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return spec


def test_small_spec_is_valid_and_names_features_once() -> None:
    spec = load_spec(SMALL)
    names = spec.feature_names
    assert "BURO_ALL_AMT_CREDIT_SUM_SUM" in names
    assert "BURO_ACTIVE_AMT_CREDIT_SUM_MEAN" in names
    assert "CREDIT_INCOME_RATIO" in names
    # child features feed the parent; they are not model columns themselves
    assert "BB_ALL_MONTHS_BALANCE_COUNT" not in names
    assert len(names) == len(set(names))


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (
            "history.BURO.aggregate.0.columns",
            {"AMT_FOO": ["sum"]},
            "history.BURO.aggregate[0].columns.AMT_FOO: "
            "bureau (block BURO) has no column 'AMT_FOO'",
        ),
        (
            "history.BURO.subsets.ACTIVE.where",
            "CREDIT_ACTIVE == 'Activ'",
            "'Activ' is not a level of CREDIT_ACTIVE",
        ),
        (
            "history.BURO.aggregate.0.columns",
            {"CREDIT_TYPE": ["mean"]},
            "'mean' is not allowed on text columns",
        ),
        (
            "history.BURO.aggregate.0.columns",
            {"AMT_CREDIT_SUM": ["median"]},
            "'median' is not allowed on numeric columns",
        ),
        ("history.BURO.table", "bureaux", "'bureaux' is not a history table"),
        ("history.BURO.joins", [], "history.BB: key SK_ID_BUREAU is not SK_ID_CURR"),
        ("history.BURO.aggregate.0.subsets", ["ALL", "CLOSED"], "unknown name(s) ['CLOSED']"),
        ("history.BURO.agregate", [], "unknown key(s) ['agregate']"),
        (
            "history.BURO.joins",
            [{"block": "BB", True: "SK_ID_BUREAU"}],
            "write `through:` in joins",
        ),
        (
            "application.derived.CREDIT_INCOME_RATIO.expr",
            "AMT_CREDIT / ",
            "application.derived.CREDIT_INCOME_RATIO.expr: cannot parse",
        ),
        (
            "application.derived.CREDIT_INCOME_RATIO.expr",
            "log(AMT_CREDIT)",
            "unknown function 'log'",
        ),
        (
            "application.derived.CREDIT_INCOME_RATIO.expr",
            "__import__('os')",
            "unknown function '__import__'",
        ),
        (
            "application.derived.CREDIT_INCOME_RATIO.expr",
            "AMT_CREDIT + CODE_GENDER",
            "arithmetic on text",
        ),
        ("application.derived.AMT_CREDIT", {"expr": "1", "label": "x"}, "already exists"),
        ("application.derived.CREDIT_INCOME_RATIO.label", "-", "label: expected a non-empty"),
        ("label_template", "{column} {colour}", "unknown field(s) ['colour']"),
        ("version", 2, "features.version: expected 1"),
        ("agg_labels.var", "", "give a non-empty label for ['var']"),
        (
            "history.BURO.subsets.LAST",
            {"last": 0, "by": "DAYS_CREDIT", "label": "x"},
            "'last: <N ≥ 1>'",
        ),
        (
            "history.BURO.subsets.LAST",
            {"last": 2, "by": "CREDIT_TYPE", "label": "x"},
            "must name a numeric column",
        ),
    ],
)
def test_spec_errors_name_the_location_and_the_fix(path: str, value: Any, message: str) -> None:
    with pytest.raises(SpecError) as err:
        load_spec(mutate(path, value))
    assert message in str(err.value)


def test_join_cycle_is_reported() -> None:
    spec = mutate("history.BB.joins", [{"block": "BURO", "through": "SK_ID_BUREAU"}])
    with pytest.raises(SpecError, match=r"join cycle (BB -> BURO -> BB|BURO -> BB -> BURO)"):
        load_spec(spec)


def test_spec_file_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nlabel_template: [oops\n", encoding="utf-8")
    with pytest.raises(SpecError, match=r"bad\.yaml: not valid YAML"):
        load_spec(bad)
    with pytest.raises(SpecError, match="not found"):
        load_spec(tmp_path / "missing.yaml")


@pytest.fixture(scope="module")
def default_spec() -> FeatureSpec:
    return load_spec(DEFAULT)


def test_default_spec_has_kernel_breadth_plus_windows_and_interest_rate(
    default_spec: FeatureSpec,
) -> None:
    names = default_spec.feature_names
    # the public "LightGBM with simple features" kernel has about 800 columns
    assert len(names) >= 800
    for expected in (
        "INSTAL_L12M_LATE_SUM",  # time window
        "INSTAL_LAST10_DPD_MAX",  # last N instalments
        "PREV_APPROVED_INTEREST_RATE_MEAN",  # interest-rate estimate, approved subset
        "PREV_REFUSED_SK_ID_PREV_COUNT",
        "PREV_LAST1_DAYS_DECISION_MEAN",  # recency
        "BURO_ACTIVE_AMT_CREDIT_SUM_DEBT_SUM",
        "BURO_CLOSED_DAYS_CREDIT_MAX",
        "BURO_ALL_BB_ALL_STATUS_1_SHARE_MEAN",  # bureau_balance -> bureau -> client
        "CC_ALL_UTILISATION_MAX",
        "POS_ALL_NAME_CONTRACT_STATUS_COMPLETED_SHARE",
        "EXT_SOURCE_WEIGHTED",
        "DOCUMENT_COUNT",
        "CREDIT_INCOME_RATIO",
        "ORGANIZATION_TYPE_FREQ",
    ):
        assert expected in names, expected
    assert "TARGET" not in names


def test_every_default_feature_has_a_readable_label(default_spec: FeatureSpec) -> None:
    for f in default_spec.features:
        assert f.label.strip(), f.name
        assert len(f.label) < 260, (f.name, f.label)
    labels = {f.name: f.label for f in default_spec.features}
    assert labels["EXT_SOURCE_3"] == "External score 3"
    assert labels["CREDIT_INCOME_RATIO"] == "Credit amount / income"
    assert labels["INSTAL_L12M_LATE_SUM"] == (
        "Late instalment payments (total) — instalments of previous Home Credit loans "
        "due in the last 12 months"
    )
    # the 47 building columns share one dictionary text; their labels must still differ
    building = [v for k, v in labels.items() if k.endswith(("_AVG", "_MODE", "_MEDI"))]
    assert len(set(building)) == len(building)


def test_default_spec_composes_under_the_features_key(tmp_path: Path) -> None:
    """params.yaml holds the spec under `features`; loading that file gives the same spec."""
    raw = yaml.safe_load(DEFAULT.read_text(encoding="utf-8"))
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"seed": 1, "features": raw}, sort_keys=False), "utf-8")
    assert load_spec(params).feature_names == load_spec(DEFAULT).feature_names
