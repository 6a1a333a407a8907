"""The dashboard's charts: valid Vega-Lite, and meaning never carried by colour alone."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from dashboard.charts import (
    APPROVED_COLOR,
    DECISION_SHAPES,
    OKABE_ITO,
    REFUSED_COLOR,
    ContributionBar,
    contributions_chart,
    distribution_chart,
    gauge_chart,
    scatter_chart,
)


def layers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return list(spec["layer"])


def mark_of(layer: dict[str, Any]) -> dict[str, Any]:
    mark = layer["mark"]
    return mark if isinstance(mark, dict) else {"type": mark}


def texts(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [layer for layer in layers(spec) if mark_of(layer)["type"] == "text"]


def dataset_values(spec: dict[str, Any], layer: dict[str, Any]) -> list[dict[str, Any]]:
    return list(spec["datasets"][layer["data"]["name"]])


def test_gauge_labels_the_limit_and_the_client_in_words() -> None:
    spec = gauge_chart(0.23, 0.095, 0.5, "risk 23 % against 9.5 %").to_dict()
    assert spec["description"] == "risk 23 % against 9.5 %"
    words = [
        row["text"] if "text" in row else row.get("label")
        for layer in texts(spec)
        for row in dataset_values(spec, layer)
    ]
    joined = " | ".join(str(w) for w in words).replace("\u00a0", " ")
    assert "Our limit 9.5 %" in joined
    assert "This client 23 %" in joined
    assert "Approved below the limit" in joined
    assert "Refused at or above" in joined


def test_gauge_scale_covers_both_marks() -> None:
    spec = gauge_chart(0.23, 0.095, 0.5, "d").to_dict()
    band = layers(spec)[0]
    assert band["encoding"]["x"]["scale"]["domain"] == [0, 0.5]


def test_gauge_text_is_black() -> None:
    spec = gauge_chart(0.04, 0.095, 0.2, "d").to_dict()
    assert {mark_of(t)["color"] for t in texts(spec)} == {"#000000"}
    assert spec["config"]["axis"]["labelColor"] == "#000000"


def test_contributions_say_the_direction_in_words_and_position() -> None:
    bars = [
        ContributionBar("Age", "26 years old", 0.4),
        ContributionBar("External score 3", "0.81", -0.3),
    ]
    spec = contributions_chart(bars, "why").to_dict()
    by_label = {r["label"]: r for r in dataset_values(spec, layers(spec)[0])}
    assert by_label["Age = 26 years old"]["direction"] == "raises risk"
    assert by_label["External score 3 = 0.81"]["direction"] == "lowers risk"
    # the words are drawn next to the bars, not only encoded as colour
    assert all(t["encoding"]["text"]["field"] == "direction" for t in texts(spec))
    colour = layers(spec)[0]["encoding"]["color"]["scale"]
    assert colour["range"] == [REFUSED_COLOR, APPROVED_COLOR]


def test_distribution_marks_the_client_with_a_labelled_line() -> None:
    spec = distribution_chart(
        "AMT_INCOME_TOTAL",
        "Annual income",
        [0.0, 100_000.0, 200_000.0],
        [5, 3],
        150_000.0,
        "all clients",
        "histogram",
    ).to_dict()
    kinds = [mark_of(layer)["type"] for layer in layers(spec)]
    assert kinds == ["bar", "rule", "text"]
    label = dataset_values(spec, texts(spec)[0])
    assert label[0]["text"] == "This client"
    assert label[0]["x"] == 150_000.0


def test_distribution_without_client_value_has_no_marker() -> None:
    spec = distribution_chart("X", "X", [0.0, 1.0], [3], None, "all clients", "d").to_dict()
    assert [mark_of(layer)["type"] for layer in layers(spec)] == ["bar"]


def test_distribution_shows_days_as_years_in_increasing_order() -> None:
    spec = distribution_chart(
        "DAYS_BIRTH", "Age", [-3652.5, -1826.25, 0.0], [4, 6], -3000.0, "all clients", "d"
    ).to_dict()
    bars = dataset_values(spec, layers(spec)[0])
    assert [round(b["start"], 6) for b in bars] == [0.0, 5.0]
    assert [b["clients"] for b in bars] == [6, 4]
    assert layers(spec)[0]["encoding"]["x"]["title"] == "Age (years)"


@pytest.mark.parametrize("with_client", [True, False])
def test_scatter_shows_decision_by_shape_and_colour(with_client: bool) -> None:
    points = pd.DataFrame(
        {
            "income": [100_000.0, 200_000.0],
            "credit": [300_000.0, 500_000.0],
            "decision": ["approved", "refused"],
            "sk_id_curr": [1, 2],
        }
    )
    client = {"income": 150_000.0, "credit": 400_000.0} if with_client else None
    spec = scatter_chart(points, "income", "credit", "Income", "Credit", client, "d").to_dict()
    enc = layers(spec)[0]["encoding"]
    assert enc["shape"]["scale"]["range"] == DECISION_SHAPES
    assert enc["color"]["scale"]["range"] == [APPROVED_COLOR, REFUSED_COLOR]
    assert len(set(DECISION_SHAPES)) == 2
    assert len(layers(spec)) == (3 if with_client else 1)
    if with_client:
        assert dataset_values(spec, texts(spec)[0])[0]["text"] == "This client"


def test_decision_colours_come_from_the_colour_blind_safe_palette() -> None:
    assert {APPROVED_COLOR, REFUSED_COLOR} <= set(OKABE_ITO.values())
