"""Altair charts of the dashboard, built to WCAG 2.1 rules (pure: data in, chart spec out).

Why these choices:

- Colour is never the only signal (1.4.1): decisions are shown by shape (circle = approved,
  cross = refused) *and* colour, zones of the gauge carry text labels, contribution bars go
  right (raises risk) or left (lowers risk) and are labelled with the direction in words.
- The palette is Okabe-Ito (colour-blind safe); marks that carry meaning are dark enough to
  keep 3:1 against white, and every text mark is black.
- Every chart gets a ``description`` (its accessible name in the SVG); the page adds a caption
  and a summary sentence or table next to it (1.1.1). Labels and rules that only repeat what the
  description says are hidden from screen readers (``aria=False``), so a screen reader does not
  read out "y_text: 60; mid: 0.0327" for every annotation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

import altair as alt
import pandas as pd

from dashboard.formatting import (
    axis_title,
    display_histogram,
    format_percent,
    to_display,
)

# Okabe & Ito (2008), "Color Universal Design": distinguishable under the common colour-vision
# deficiencies.
OKABE_ITO: dict[str, str] = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}
APPROVED_COLOR = OKABE_ITO["blue"]
REFUSED_COLOR = OKABE_ITO["vermillion"]
DECISIONS = ["approved", "refused"]
DECISION_SHAPES = ["circle", "cross"]
# Light tints of the two decision colours for large background areas (text on them is black).
APPROVED_TINT = "#CCE3F0"
REFUSED_TINT = "#F7D9C4"
TEXT_COLOR = "#000000"

CHART_WIDTH: Final = "container"
#: Fit the width to the page but keep the declared plot height: Streamlit's default "fit" would
#: squeeze the plot to make room for the axes, and a short gauge would lose its labels.
AUTOSIZE = alt.AutoSizeParams(type="fit-x", contains="padding")


def _decision_color() -> alt.Color:
    return alt.Color(
        "decision:N",
        title="Decision",
        scale=alt.Scale(domain=DECISIONS, range=[APPROVED_COLOR, REFUSED_COLOR]),
        legend=alt.Legend(orient="top", symbolSize=120, labelFontSize=13, titleFontSize=13),
    )


def _decision_shape() -> alt.Shape:
    return alt.Shape(
        "decision:N",
        title="Decision",
        scale=alt.Scale(domain=DECISIONS, range=DECISION_SHAPES),
        legend=alt.Legend(orient="top", symbolSize=120, labelFontSize=13, titleFontSize=13),
    )


# --------------------------------------------------------------------------------------------
# Gauge: the probability against the threshold
# --------------------------------------------------------------------------------------------
def gauge_chart(
    probability: float, threshold: float, domain_max: float, description: str
) -> alt.LayerChart:
    """A horizontal gauge (bullet chart) of the risk, with the limit and both zones labelled.

    A linear bar reads more precisely than a dial and survives narrow screens (200 % zoom).
    """
    zones = pd.DataFrame(
        {
            "zone": ["approval zone", "refusal zone"],
            "start": [0.0, threshold],
            "end": [threshold, domain_max],
            "label": ["Approved below the limit", "Refused at or above"],
            "mid": [threshold / 2, (threshold + domain_max) / 2],
            "y": [40.0, 40.0],
            "y2": [80.0, 80.0],
            "y_text": [60.0, 60.0],
        }
    )
    # Vertical positions are data units on a hidden 0–100 scale, so the layout keeps its
    # proportions at any chart height (pixel values get squeezed when Streamlit sizes the view).
    x_scale = alt.Scale(domain=[0, domain_max], nice=False, clamp=True)
    y_scale = alt.Scale(domain=[0, 100])
    x_axis = alt.Axis(format="%", title="Estimated risk of default", orient="bottom", grid=False)

    def y(field: str) -> alt.Y:
        return alt.Y(f"{field}:Q", scale=y_scale, axis=None)

    band = (
        alt.Chart(zones)
        .mark_rect(stroke=TEXT_COLOR, strokeWidth=0.5, aria=False)
        .encode(
            x=alt.X("start:Q", scale=x_scale, axis=x_axis),
            x2="end:Q",
            y=y("y"),
            y2="y2:Q",
            color=alt.Color(
                "zone:N",
                scale=alt.Scale(
                    domain=["approval zone", "refusal zone"], range=[APPROVED_TINT, REFUSED_TINT]
                ),
                legend=None,
            ),
            tooltip=[alt.Tooltip("label:N", title="Zone")],
        )
    )
    zone_text = (
        alt.Chart(zones)
        .mark_text(fontSize=12, color=TEXT_COLOR, baseline="middle", aria=False)
        .encode(x=alt.X("mid:Q", scale=x_scale), y=y("y_text"), text="label:N")
    )
    client_x = min(probability, domain_max)

    def align(x: float) -> Literal["left", "center", "right"]:
        """Labels near an edge are anchored inward so they are never cut off."""
        if x < 0.15 * domain_max:
            return "left"
        return "right" if x > 0.85 * domain_max else "center"

    limit = pd.DataFrame(
        {
            "x": [threshold],
            "y": [30.0],
            "y2": [90.0],
            "y_text": [92.0],
            "text": [f"Our limit {format_percent(threshold)}"],
        }
    )
    client = pd.DataFrame(
        {
            "x": [client_x],
            "y": [30.0],
            "y_text": [8.0],
            "text": [f"This client {format_percent(probability)}"],
        }
    )
    limit_rule = (
        alt.Chart(limit)
        .mark_rule(color=TEXT_COLOR, strokeWidth=2, strokeDash=[6, 3], aria=False)
        .encode(x=alt.X("x:Q", scale=x_scale), y=y("y"), y2="y2:Q")
    )
    limit_text = (
        alt.Chart(limit)
        .mark_text(
            color=TEXT_COLOR, fontSize=12, align=align(threshold), baseline="bottom", aria=False
        )
        .encode(x=alt.X("x:Q", scale=x_scale), y=y("y_text"), text="text:N")
    )
    client_mark = (
        alt.Chart(client)
        .mark_point(
            shape="triangle-up", size=220, filled=True, color=TEXT_COLOR, opacity=1, aria=False
        )
        .encode(
            x=alt.X("x:Q", scale=x_scale),
            y=y("y"),
            tooltip=[alt.Tooltip("text:N", title="Risk")],
        )
    )
    client_text = (
        alt.Chart(client)
        .mark_text(
            aria=False,
            color=TEXT_COLOR,
            fontSize=13,
            fontWeight="bold",
            align=align(client_x),
            baseline="middle",
        )
        .encode(x=alt.X("x:Q", scale=x_scale), y=y("y_text"), text="text:N")
    )
    return _readable(
        alt.LayerChart(
            layer=[band, zone_text, limit_rule, limit_text, client_mark, client_text],
            width=CHART_WIDTH,
            autosize=AUTOSIZE,
            height=130,
            description=description,
        )
    )


def _readable(chart: alt.LayerChart) -> alt.LayerChart:
    """Black axis and legend text at readable sizes (the default grey is below 4.5:1)."""
    return chart.configure_axis(
        labelColor=TEXT_COLOR, titleColor=TEXT_COLOR, labelFontSize=12, titleFontSize=13
    ).configure_legend(labelColor=TEXT_COLOR, titleColor=TEXT_COLOR)


# --------------------------------------------------------------------------------------------
# Contributions: why this score
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ContributionBar:
    label: str
    value_text: str
    contribution: float


def contributions_chart(bars: Sequence[ContributionBar], description: str) -> alt.LayerChart:
    """Bars right of zero raise the risk, left of zero lower it; each says so in words."""
    frame = pd.DataFrame(
        {
            "label": [f"{b.label} = {b.value_text}" for b in bars],
            "contribution": [b.contribution for b in bars],
            "direction": ["raises risk" if b.contribution > 0 else "lowers risk" for b in bars],
        }
    )
    order = frame.sort_values("contribution", ascending=False)["label"].tolist()
    y = alt.Y("label:N", sort=order, title=None, axis=alt.Axis(labelLimit=320, labelFontSize=12))
    # Room on both sides for the "raises risk" / "lowers risk" words at the bar ends.
    low = min(0.0, float(frame["contribution"].min()) if len(frame) else 0.0)
    high = max(0.0, float(frame["contribution"].max()) if len(frame) else 0.0)
    pad = 0.45 * max(high - low, 1e-6)
    x_scale = alt.Scale(domain=[low - (pad if low < 0 else 0), high + (pad if high > 0 else 0)])
    base = alt.Chart(frame).encode(
        y=y,
        x=alt.X(
            "contribution:Q",
            title="Effect on the risk (log-odds; right = raises the risk)",
            scale=x_scale,
        ),
        tooltip=[
            alt.Tooltip("label:N", title="Information"),
            alt.Tooltip("direction:N", title="Effect"),
            alt.Tooltip("contribution:Q", title="Size", format=".2f"),
        ],
    )
    bars_mark = base.mark_bar().encode(
        color=alt.Color(
            "direction:N",
            title="Effect",
            scale=alt.Scale(
                domain=["raises risk", "lowers risk"], range=[REFUSED_COLOR, APPROVED_COLOR]
            ),
            legend=alt.Legend(orient="top", labelFontSize=13, titleFontSize=13),
        )
    )
    # The direction in words at the end of each bar (left-aligned after a bar that goes right,
    # right-aligned before one that goes left), so the chart reads without colour.
    text_right = (
        base.transform_filter("datum.contribution > 0")
        .mark_text(color=TEXT_COLOR, fontSize=12, align="left", dx=4, aria=False)
        .encode(text="direction:N")
    )
    text_left = (
        base.transform_filter("datum.contribution <= 0")
        .mark_text(color=TEXT_COLOR, fontSize=12, align="right", dx=-4, aria=False)
        .encode(text="direction:N")
    )
    zero = (
        alt.Chart(pd.DataFrame({"x": [0.0]}))
        .mark_rule(color=TEXT_COLOR, aria=False)
        .encode(x="x:Q")
    )
    height = max(120, 34 * len(bars))
    return _readable(
        alt.LayerChart(
            layer=[bars_mark, text_right, text_left, zero],
            width=CHART_WIDTH,
            autosize=AUTOSIZE,
            height=height,
            description=description,
        )
    )


# --------------------------------------------------------------------------------------------
# Distribution of one feature, the client marked
# --------------------------------------------------------------------------------------------
def distribution_chart(
    feature: str,
    label: str,
    edges: Sequence[float],
    counts: Sequence[int],
    client_value: float | None,
    group_name: str,
    description: str,
) -> alt.LayerChart:
    """Histogram of a group with the client's value as a labelled black line.

    Bars are a single neutral colour: only the client's line carries meaning, and it is
    identified by its label, not by a colour.
    """
    shown_edges, shown_counts = display_histogram(feature, edges, counts)
    total = max(sum(shown_counts), 1)
    frame = pd.DataFrame(
        {
            "start": shown_edges[:-1],
            "end": shown_edges[1:],
            "clients": shown_counts,
            "share": [c / total for c in shown_counts],
        }
    )
    title = axis_title(feature, label)
    x = alt.X("start:Q", title=title, bin="binned", axis=alt.Axis(labelFontSize=12))
    bars = (
        alt.Chart(frame)
        .mark_bar(color=OKABE_ITO["sky_blue"], stroke=TEXT_COLOR, strokeWidth=0.4)
        .encode(
            x=x,
            x2="end:Q",
            y=alt.Y("clients:Q", title=f"Number of {group_name}"),
            tooltip=[
                alt.Tooltip("start:Q", title="From", format=",.2f"),
                alt.Tooltip("end:Q", title="To", format=",.2f"),
                alt.Tooltip("clients:Q", title="Clients", format=","),
                alt.Tooltip("share:Q", title="Share of the group", format=".0%"),
            ],
        )
    )
    # Zoom and pan along the feature axis (mouse wheel / drag); counts keep their scale.
    layers: list[alt.Chart] = [bars.interactive(bind_y=False)]
    if client_value is not None:
        shown = to_display(feature, float(client_value))
        marker = pd.DataFrame({"x": [shown], "text": ["This client"]})
        layers.append(
            alt.Chart(marker)
            .mark_rule(color=TEXT_COLOR, strokeWidth=3, strokeDash=[8, 4])
            .encode(x="x:Q", tooltip=[alt.Tooltip("x:Q", title="This client", format=",.2f")])
        )
        layers.append(
            alt.Chart(marker)
            .mark_text(
                color=TEXT_COLOR,
                fontSize=13,
                fontWeight="bold",
                align="left",
                dx=5,
                dy=-4,
                aria=False,
            )
            .encode(x="x:Q", y=alt.value(10), text="text:N")
        )
    return _readable(
        alt.LayerChart(
            layer=layers, width=CHART_WIDTH, autosize=AUTOSIZE, height=240, description=description
        )
    )


# --------------------------------------------------------------------------------------------
# Scatter of two features, decisions shown by shape and colour
# --------------------------------------------------------------------------------------------
def scatter_chart(
    points: pd.DataFrame,
    x: str,
    y: str,
    x_title: str,
    y_title: str,
    client: dict[str, float] | None,
    description: str,
) -> alt.LayerChart:
    """Each client a mark (circle approved, cross refused); the client a labelled black star.

    ``points`` has columns ``x``/``y`` named as given, ``decision`` and ``sk_id_curr``.
    Zoom and pan with the mouse or trackpad; tooltips give the id and both values.
    """
    base = (
        alt.Chart(points)
        .mark_point(size=60, filled=False, strokeWidth=1.6, opacity=0.85)
        .encode(
            x=alt.X(f"{x}:Q", title=x_title, scale=alt.Scale(zero=False)),
            y=alt.Y(f"{y}:Q", title=y_title, scale=alt.Scale(zero=False)),
            color=_decision_color(),
            shape=_decision_shape(),
            tooltip=[
                alt.Tooltip("sk_id_curr:Q", title="Client", format="d"),
                alt.Tooltip("decision:N", title="Decision"),
                alt.Tooltip(f"{x}:Q", title=x_title, format=",.2f"),
                alt.Tooltip(f"{y}:Q", title=y_title, format=",.2f"),
            ],
        )
        .interactive()
    )
    layers: list[alt.Chart] = [base]
    if client is not None:
        me = pd.DataFrame([{x: client[x], y: client[y], "text": "This client"}])
        layers.append(
            alt.Chart(me)
            .mark_point(shape="diamond", size=320, filled=True, color=TEXT_COLOR, opacity=1)
            .encode(x=f"{x}:Q", y=f"{y}:Q")
        )
        layers.append(
            alt.Chart(me)
            .mark_text(
                color=TEXT_COLOR, fontSize=13, fontWeight="bold", align="left", dx=12, aria=False
            )
            .encode(x=f"{x}:Q", y=f"{y}:Q", text="text:N")
        )
    return _readable(
        alt.LayerChart(
            layer=layers, width=CHART_WIDTH, autosize=AUTOSIZE, height=340, description=description
        )
    )
