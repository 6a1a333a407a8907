"""Plain-language wording of scores, reasons and client values (pure functions, unit-tested).

Why a separate module: every sentence an officer reads to a client is built here, so the words
can be tested without a browser and stay consistent across the page (gauge caption, decision
banner, what-if panel). Numbers follow the brief's style, "estimated risk 23 %": a no-break space
before ``%`` so a percentage never wraps across two lines at 200 % zoom.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal

NBSP = "\u00a0"
#: DAYS_EMPLOYED = 365243 is Home Credit's sentinel for pensioners and unemployed clients.
DAYS_SENTINEL = 365243
DAYS_PER_YEAR = 365.25

Direction = Literal["raises", "lowers"]


def is_missing(value: object) -> bool:
    """True for ``None`` and float NaN, the two ways the API and pandas say "no value"."""
    return value is None or (isinstance(value, float) and math.isnan(value))


# --------------------------------------------------------------------------------------------
# Percentages and the decision sentence
# --------------------------------------------------------------------------------------------
def format_percent(probability: float, decimals: int | None = None) -> str:
    """A probability as a percentage: ``0.2312`` → ``"23 %"``, ``0.095`` → ``"9.5 %"``.

    By default small values keep one decimal (a 9.5 % limit must not read "10 %") and values of
    10 % or more are rounded to whole points, which is all a client needs. A trailing ``.0`` is
    dropped so round numbers read naturally.
    """
    pct = probability * 100.0
    if decimals is None:
        decimals = 0 if abs(pct) >= 10 else 1
    text = f"{pct:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text in {"-0", ""}:
        text = "0"
    return f"{text}{NBSP}%"


def format_percent_pair(probability: float, threshold: float) -> tuple[str, str]:
    """Both numbers of the decision sentence, with enough decimals to tell them apart.

    A client at 9.52 % against a 9.5 % limit must not read "risk 9.5 %, above our 9.5 % limit":
    decimals are added (up to 3) until the two texts differ, unless the values are equal.
    """
    p_text, t_text = format_percent(probability), format_percent(threshold)
    decimals = 1
    while p_text == t_text and probability != threshold and decimals <= 3:
        p_text = format_percent(probability, decimals)
        t_text = format_percent(threshold, decimals)
        decimals += 1
    return p_text, t_text


def relation_to_limit(probability: float, threshold: float) -> Literal["above", "below", "at"]:
    """Where the risk sits relative to the limit, in the words of the decision sentence."""
    if math.isclose(probability, threshold, rel_tol=0.0, abs_tol=1e-12):
        return "at"
    return "above" if probability > threshold else "below"


def decision_sentence(probability: float, threshold: float, decision: str) -> str:
    """The one sentence an officer reads out, e.g. "Loan refused: estimated risk 23 %, above
    our 9.5 % limit".

    The decision word comes from the API (it owns the rule), the comparison from the numbers,
    so the sentence is always true to both.
    """
    verdict = "approved" if decision == "approved" else "refused"
    p_text, t_text = format_percent_pair(probability, threshold)
    relation = relation_to_limit(probability, threshold)
    return f"Loan {verdict}: estimated risk {p_text}, {relation} our {t_text} limit"


def decision_icon(decision: str) -> str:
    """A symbol that repeats the decision for sighted readers; never used without the words."""
    return "✔" if decision == "approved" else "✖"


def risk_change_sentence(before: float, after: float) -> str:
    """How a what-if change moves the risk, in points: "Risk goes from 23 % to 18 % (−5 points)".

    Percentage points, not relative change: "5 points lower" is what a client can compare with
    the limit.
    """
    b_text, a_text = format_percent_pair(before, after)
    delta = (after - before) * 100.0
    if abs(delta) < 0.05:
        return f"Risk stays at {a_text}"
    sign = "+" if delta > 0 else "−"
    magnitude = f"{abs(delta):.1f}".rstrip("0").rstrip(".")
    unit = "point" if magnitude == "1" else "points"
    return f"Risk goes from {b_text} to {a_text} ({sign}{magnitude}{NBSP}{unit})"


# --------------------------------------------------------------------------------------------
# Numbers and client values
# --------------------------------------------------------------------------------------------
def format_amount(amount: float | None) -> str:
    """A money amount with thousands separators and no decimals: ``202500.0`` → ``"202,500"``.

    Home Credit amounts carry no currency in the data, so none is invented here.
    """
    if amount is None or is_missing(amount):
        return "not provided"
    return f"{amount:,.0f}"


def format_number(value: float) -> str:
    """A generic number: integers with separators, small decimals with 2–3 significant digits."""
    if float(value).is_integer():
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:,.2f}"
    return f"{value:.3g}"


def _years(days: float) -> float:
    return abs(days) / DAYS_PER_YEAR


def format_years(years: float) -> str:
    """``1`` → ``"1 year"``, ``3.24`` → ``"3.2 years"``, ``0.4`` → ``"less than a year"``."""
    if years < 1:
        return "less than a year"
    text = f"{years:.1f}".rstrip("0").rstrip(".")
    return f"{text} year" if text == "1" else f"{text} years"


def is_yes_no(feature: str) -> bool:
    """Kaggle's 0/1 flags: FLAG_*, and the REG_/LIVE_ "... not ..." address checks."""
    name = feature.upper()
    return name.startswith("FLAG_") or (name.startswith(("REG_", "LIVE_")) and "_NOT_" in name)


def format_feature_value(feature: str, value: object) -> str:
    """A raw application value in words a client understands.

    Home Credit stores dates as negative day counts relative to the application
    (``DAYS_BIRTH = -15000`` is a 41-year-old) and flags as 0/1 or Y/N; reading those out raw
    would confuse anyone. Unknown features fall back to a clean number or the text itself.
    """
    if is_missing(value):
        return "not provided"
    name = feature.upper()
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        if name.startswith("FLAG_") and value in {"Y", "N"}:
            return "yes" if value == "Y" else "no"
        if name == "CODE_GENDER":
            return {"F": "female", "M": "male"}.get(value, "not stated")
        return value
    if not isinstance(value, int | float):
        return str(value)
    number = float(value)
    if name == "DAYS_BIRTH":
        return f"{_years(number):.0f} years old"
    if name == "DAYS_EMPLOYED":
        if number == DAYS_SENTINEL:
            return "not in employment (pensioner or unemployed)"
        return f"employed for {format_years(_years(number))}"
    if name.startswith("DAYS_"):
        return f"{format_years(_years(number))} before the application"
    if name.startswith("AMT_"):
        return format_amount(number)
    if is_yes_no(name) and number in {0.0, 1.0}:
        return "yes" if number == 1.0 else "no"
    return format_number(number)


# --------------------------------------------------------------------------------------------
# Reasons
# --------------------------------------------------------------------------------------------
def direction_of(contribution: float) -> Direction:
    """A positive log-odds contribution pushes toward default: it raises the risk."""
    return "raises" if contribution > 0 else "lowers"


def strength_word(contribution: float) -> str:
    """Size of a contribution in words (log-odds: 0.5 ≈ ×1.65 on the odds, 0.2 ≈ ×1.2)."""
    size = abs(contribution)
    if size >= 0.5:
        return "strongly"
    if size >= 0.2:
        return "moderately"
    return "slightly"


def reason_sentence(label: str, feature: str, value: object, contribution: float) -> str:
    """One reason in plain language, with its direction in words (never colour alone):
    "Age: 26 years old — strongly raises the risk".
    """
    shown = format_feature_value(feature, value)
    return f"{label}: {shown} — {strength_word(contribution)} {direction_of(contribution)} the risk"


def direction_marker(contribution: float) -> str:
    """An arrow that doubles the direction word for quick scanning (▲ raises, ▼ lowers)."""
    return "▲" if contribution > 0 else "▼"


# --------------------------------------------------------------------------------------------
# Comparison summaries (text alternatives of the charts)
# --------------------------------------------------------------------------------------------
def percentile_from_histogram(
    edges: Sequence[float], counts: Sequence[int], value: float
) -> float | None:
    """Share of the group (0–1) whose value is below ``value``, read off a histogram.

    Inside a bin the clients are assumed evenly spread, the usual linear interpolation.
    ``None`` when the histogram is empty or malformed, so callers say "unknown" rather than
    print a made-up rank.
    """
    if len(edges) != len(counts) + 1 or not counts:
        return None
    total = float(sum(counts))
    if total <= 0:
        return None
    below = 0.0
    for lo, hi, n in zip(edges[:-1], edges[1:], counts, strict=True):
        if value >= hi:
            below += n
        elif value > lo:
            below += n * (value - lo) / (hi - lo) if hi > lo else n
            break
        else:
            break
    return min(max(below / total, 0.0), 1.0)


def position_sentence(
    label: str,
    feature: str,
    value: object,
    share_below: float | None,
    group_name: str,
    median: float | None = None,
) -> str:
    """Where the client stands in a group, e.g. "Income: 202,500 — higher than 73 % of all
    clients (median 150,000)". This is the text alternative of the distribution chart.
    """
    if is_missing(value):
        return f"{label}: not provided for this client, so no comparison with {group_name}"
    sentence = f"{label}: {format_feature_value(feature, value)}"
    if share_below is not None:
        sentence += f" — higher than {format_percent(share_below, 0)} of {group_name}"
    if median is not None and not is_missing(median):
        sentence += f" (median of {group_name}: {format_feature_value(feature, median)})"
    return sentence


def decision_counts_sentence(decisions: Sequence[str], group_name: str) -> str:
    """Summary of the scatter's decision marks: "All clients: 120 shown, 18 refused (15 %),
    102 approved (85 %)".
    """
    n = len(decisions)
    if n == 0:
        return f"No {group_name} to show"
    refused = sum(1 for d in decisions if d == "refused")
    approved = n - refused
    return (
        f"{group_name[:1].upper()}{group_name[1:]}: {n:,} shown, "
        f"{refused:,} refused ({format_percent(refused / n, 0)}), "
        f"{approved:,} approved ({format_percent(approved / n, 0)})"
    )


def filter_info_rows(
    rows: Mapping[str, tuple[str, str]], query: str, only_filled: bool
) -> dict[str, tuple[str, str]]:
    """Filter the descriptive-information table by a free-text query on label, code or value.

    ``rows`` maps a raw column name to (label, shown value). Matching is case-insensitive and
    on any of the three, so an officer can type "income", "AMT_" or "Married".
    """
    needle = query.strip().lower()
    out: dict[str, tuple[str, str]] = {}
    for name, (label, shown) in rows.items():
        if only_filled and shown == "not provided":
            continue
        if needle and not any(needle in s.lower() for s in (name, label, shown)):
            continue
        out[name] = (label, shown)
    return out


def gauge_domain_max(probability: float, threshold: float) -> float:
    """Upper end of the gauge scale: wide enough to show both marks with room for labels.

    Default risks are small (a 9.5 % limit): on a 0–100 % scale both marks would crowd the
    left edge, so the scale stops at twice the larger value, at least 20 %, at most 100 %,
    rounded up to a multiple of 10 %.
    """
    top = max(0.2, 2.0 * max(probability, threshold))
    return min(1.0, math.ceil(top * 10 - 1e-9) / 10)


def parse_client_id(text: str) -> int | None:
    """The client id typed by the officer, or ``None`` when it is not a positive whole number.

    Accepts surrounding spaces and thousands separators ("100 001", "100,001") because ids
    are often copied from letters or spreadsheets.
    """
    cleaned = text.strip().replace(",", "").replace(" ", "").replace(NBSP, "")
    if not cleaned.isdigit():
        return None
    value = int(cleaned)
    return value if value > 0 else None


# --------------------------------------------------------------------------------------------
# Display scale of features on charts
# --------------------------------------------------------------------------------------------
def to_display(feature: str, value: float) -> float:
    """A raw feature value on the scale a person reads: DAYS_* counts become positive years.

    ``DAYS_BIRTH = -15000`` is shown as 41 years, so "to the right" means "older" on every
    axis; other features are unchanged.
    """
    if feature.upper().startswith("DAYS_"):
        return abs(value) / DAYS_PER_YEAR
    return value


def axis_title(feature: str, label: str) -> str:
    """The axis title matching :func:`to_display` (units in words for DAYS_* features)."""
    name = feature.upper()
    if name == "DAYS_BIRTH":
        return "Age (years)"
    if name.startswith("DAYS_"):
        return f"{label} (years before the application)"
    return label


def display_histogram(
    feature: str, edges: Sequence[float], counts: Sequence[int]
) -> tuple[list[float], list[int]]:
    """Histogram edges and counts on the display scale, in increasing order.

    Turning negative DAYS_* into positive years reverses the order of the bins; they are put
    back in increasing order so the percentile read off them keeps its meaning.
    """
    shown = [to_display(feature, e) for e in edges]
    if len(shown) > 1 and shown[0] > shown[-1]:
        return shown[::-1], list(counts)[::-1]
    return shown, list(counts)


# --------------------------------------------------------------------------------------------
# Profile (the readable facts of the client endpoint) and bands
# --------------------------------------------------------------------------------------------
def band_label(band_id: str | None) -> str:
    """A band id of the API as words: ``lt_100k`` → "under 100k", ``30_39`` → "30 to 39",
    ``ge_60`` → "60 and over". Unknown shapes are shown as they are.
    """
    if not band_id:
        return "unknown"
    if band_id.startswith("lt_"):
        return f"under {band_id[3:]}"
    if band_id.startswith("ge_"):
        return f"{band_id[3:]} and over"
    low, sep, high = band_id.partition("_")
    if sep and low and high and "_" not in high:
        return f"{low} to {high}"
    return band_id


def band_sort_key(band_id: str) -> tuple[int, float, str]:
    """Order band ids low to high: ``lt_…`` first, then by lower bound, ``ge_…`` last."""
    if band_id.startswith("lt_"):
        return (0, 0.0, band_id)
    if band_id.startswith("ge_"):
        return (2, 0.0, band_id)
    head = band_id.split("_")[0]
    digits = "".join(ch for ch in head if ch.isdigit() or ch == ".")
    scale = 1000.0 if head.lower().endswith("k") else 1.0
    try:
        return (1, float(digits) * scale, band_id)
    except ValueError:
        return (1, math.inf, band_id)


def format_profile_value(key: str, value: object) -> str:
    """A value of the client's readable profile (``info``) in words."""
    if is_missing(value):
        return "not provided"
    if key in {"income", "credit", "annuity", "goods_price"} and isinstance(value, int | float):
        return format_amount(float(value))
    if key == "age_years" and isinstance(value, int | float):
        return f"{float(value):.0f} years"
    if key == "years_employed" and isinstance(value, int | float):
        return format_years(float(value))
    if key in {"income_band", "age_band"}:
        return band_label(str(value))
    if key == "gender":
        return {"F": "female", "M": "male"}.get(str(value), "not stated")
    if key in {"owns_car", "owns_realty"}:
        return {"Y": "yes", "N": "no"}.get(str(value), str(value))
    if isinstance(value, float):
        return format_number(value)
    return str(value)


def format_share(share: float | None) -> str:
    """A percentile as "higher than 73 % of clients"; "—" when unknown."""
    if share is None:
        return "—"
    return f"higher than {format_percent(share, 0)} of clients"


def display_share(feature: str, share: float | None) -> float | None:
    """A "share below" computed on raw values, on the display scale of :func:`to_display`.

    For DAYS_* features the display scale runs the other way (more negative days = more
    years), so the share below becomes the share above.
    """
    if share is None:
        return None
    return 1.0 - share if feature.upper().startswith("DAYS_") else share


def quantile_rows(feature: str, quantiles: Mapping[str, float]) -> list[tuple[str, str]]:
    """Key figures of a group in words, from the API's ``p05 … p95`` quantiles.

    Ranges ("middle half of clients: 30 to 45 years old") read the same whichever way the
    display scale runs, which raw quantile names would not for DAYS_* features.
    """

    def shown(key: str) -> float | None:
        return quantiles.get(key)

    rows: list[tuple[str, str]] = []
    median = shown("p50")
    if median is not None:
        rows.append(("Median", format_feature_value(feature, median)))
    for low_key, high_key, name in (
        ("p25", "p75", "Middle half of the group"),
        ("p05", "p95", f"90{NBSP}% of the group"),
    ):
        low, high = shown(low_key), shown(high_key)
        if low is None or high is None:
            continue
        a, b = sorted((low, high), key=lambda v: to_display(feature, v))
        rows.append(
            (
                name,
                f"{format_feature_value(feature, a)} to {format_feature_value(feature, b)}",
            )
        )
    return rows
