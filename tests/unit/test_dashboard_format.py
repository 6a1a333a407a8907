"""The sentences an officer reads to a client: decision, reasons, values, comparisons."""

from __future__ import annotations

import math

import pytest

from dashboard.formatting import (
    DAYS_SENTINEL,
    NBSP,
    band_label,
    band_sort_key,
    decision_counts_sentence,
    decision_sentence,
    display_histogram,
    display_share,
    filter_info_rows,
    format_amount,
    format_feature_value,
    format_percent,
    format_percent_pair,
    format_profile_value,
    gauge_domain_max,
    is_yes_no,
    parse_client_id,
    percentile_from_histogram,
    position_sentence,
    quantile_rows,
    reason_sentence,
    risk_change_sentence,
    to_display,
)


def plain(text: str) -> str:
    """The text with no-break spaces shown as spaces, to compare with what a reader sees."""
    return text.replace(NBSP, " ")


@pytest.mark.parametrize(
    ("probability", "expected"),
    [
        (0.2312, "23 %"),
        (0.095, "9.5 %"),
        (0.05, "5 %"),
        (0.0, "0 %"),
        (1.0, "100 %"),
        (0.0912, "9.1 %"),
        (0.0996, "10 %"),
    ],
)
def test_format_percent_rounds_like_the_brief(probability: float, expected: str) -> None:
    assert plain(format_percent(probability)) == expected


def test_percent_never_breaks_before_the_sign() -> None:
    assert format_percent(0.23).endswith(f"{NBSP}%")


def test_brief_example_sentence() -> None:
    sentence = decision_sentence(0.23, 0.095, "refused")
    assert plain(sentence) == "Loan refused: estimated risk 23 %, above our 9.5 % limit"


def test_approved_sentence_says_below() -> None:
    sentence = decision_sentence(0.042, 0.095, "approved")
    assert plain(sentence) == "Loan approved: estimated risk 4.2 %, below our 9.5 % limit"


def test_risk_exactly_at_the_limit_is_refused_at_the_limit() -> None:
    assert plain(decision_sentence(0.095, 0.095, "refused")) == (
        "Loan refused: estimated risk 9.5 %, at our 9.5 % limit"
    )


def test_close_values_get_enough_decimals_to_differ() -> None:
    p_text, t_text = format_percent_pair(0.0952, 0.095)
    assert p_text != t_text
    assert plain(decision_sentence(0.0952, 0.095, "refused")) == (
        "Loan refused: estimated risk 9.52 %, above our 9.5 % limit"
    )


def test_risk_change_in_points() -> None:
    assert plain(risk_change_sentence(0.23, 0.18)) == "Risk goes from 23 % to 18 % (−5 points)"
    assert plain(risk_change_sentence(0.05, 0.06)) == "Risk goes from 5 % to 6 % (+1 point)"
    assert plain(risk_change_sentence(0.1, 0.1)) == "Risk stays at 10 %"


@pytest.mark.parametrize(
    ("feature", "value", "expected"),
    [
        ("DAYS_BIRTH", -15000, "41 years old"),
        ("DAYS_EMPLOYED", DAYS_SENTINEL, "not in employment (pensioner or unemployed)"),
        ("DAYS_EMPLOYED", -1200, "employed for 3.3 years"),
        ("DAYS_EMPLOYED", -100, "employed for less than a year"),
        ("DAYS_ID_PUBLISH", -365.25, "1 year before the application"),
        ("AMT_INCOME_TOTAL", 202500.0, "202,500"),
        ("FLAG_OWN_CAR", "Y", "yes"),
        ("FLAG_MOBIL", 0, "no"),
        ("CODE_GENDER", "F", "female"),
        ("NAME_FAMILY_STATUS", "Married", "Married"),
        ("EXT_SOURCE_2", 0.26219, "0.262"),
        ("CNT_CHILDREN", 2, "2"),
        ("EXT_SOURCE_1", None, "not provided"),
        ("EXT_SOURCE_1", math.nan, "not provided"),
    ],
)
def test_values_read_in_words(feature: str, value: object, expected: str) -> None:
    assert format_feature_value(feature, value) == expected


def test_amount_without_value() -> None:
    assert format_amount(None) == "not provided"


def test_reason_sentence_states_direction_and_strength_in_words() -> None:
    up = reason_sentence("Age", "DAYS_BIRTH", -9500, 0.61)
    down = reason_sentence("External score 3", "EXT_SOURCE_3", 0.81, -0.25)
    assert up == "Age: 26 years old — strongly raises the risk"
    assert down == "External score 3: 0.81 — moderately lowers the risk"
    assert "slightly raises" in reason_sentence("Children", "CNT_CHILDREN", 3, 0.05)


def test_percentile_from_histogram_interpolates_inside_a_bin() -> None:
    edges, counts = [0.0, 10.0, 20.0, 30.0], [10, 20, 10]
    assert percentile_from_histogram(edges, counts, 20.0) == pytest.approx(0.75)
    assert percentile_from_histogram(edges, counts, 15.0) == pytest.approx(0.5)
    assert percentile_from_histogram(edges, counts, -5.0) == 0.0
    assert percentile_from_histogram(edges, counts, 99.0) == 1.0


def test_percentile_unknown_for_an_empty_or_malformed_histogram() -> None:
    assert percentile_from_histogram([0.0, 1.0], [0], 0.5) is None
    assert percentile_from_histogram([0.0, 1.0, 2.0], [3], 0.5) is None


def test_position_sentence_is_the_charts_text_alternative() -> None:
    text = position_sentence(
        "Income", "AMT_INCOME_TOTAL", 202500.0, 0.734, "all clients", median=150000.0
    )
    assert plain(text) == (
        "Income: 202,500 — higher than 73 % of all clients (median of all clients: 150,000)"
    )
    missing = position_sentence("Income", "AMT_INCOME_TOTAL", None, None, "similar clients")
    assert "not provided" in missing


def test_days_features_are_shown_as_increasing_years() -> None:
    assert to_display("DAYS_BIRTH", -3652.5) == pytest.approx(10.0)
    edges, counts = display_histogram("DAYS_BIRTH", [-3652.5, -1826.25, 0.0], [4, 6])
    assert edges == pytest.approx([0.0, 5.0, 10.0])
    assert counts == [6, 4]
    # Percentile on the display scale: a 7.5-year value is above the 6 younger clients.
    assert percentile_from_histogram(edges, counts, 7.5) == pytest.approx(0.8)


def test_decision_counts_sentence() -> None:
    text = decision_counts_sentence(["refused", "approved", "approved", "approved"], "all clients")
    assert plain(text) == "All clients: 4 shown, 1 refused (25 %), 3 approved (75 %)"
    assert decision_counts_sentence([], "similar clients") == "No similar clients to show"


def test_info_filter_matches_label_code_or_value_and_hides_empty() -> None:
    rows = {
        "AMT_INCOME_TOTAL": ("Income", "202,500"),
        "NAME_FAMILY_STATUS": ("Family status", "Married"),
        "OWN_CAR_AGE": ("Car age", "not provided"),
    }
    assert list(filter_info_rows(rows, "income", False)) == ["AMT_INCOME_TOTAL"]
    assert list(filter_info_rows(rows, "married", False)) == ["NAME_FAMILY_STATUS"]
    assert list(filter_info_rows(rows, "amt_", False)) == ["AMT_INCOME_TOTAL"]
    assert "OWN_CAR_AGE" not in filter_info_rows(rows, "", True)
    assert len(filter_info_rows(rows, "  ", False)) == 3


@pytest.mark.parametrize(
    ("probability", "threshold", "expected"),
    [(0.23, 0.095, 0.5), (0.02, 0.05, 0.2), (0.7, 0.1, 1.0), (0.12, 0.095, 0.3)],
)
def test_gauge_scale_shows_both_marks(
    probability: float, threshold: float, expected: float
) -> None:
    top = gauge_domain_max(probability, threshold)
    assert top == pytest.approx(expected)
    assert top >= max(probability, threshold)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("100001", 100001), (" 100 001 ", 100001), ("100,001", 100001), ("abc", None), ("0", None)],
)
def test_client_id_parsing(text: str, expected: int | None) -> None:
    assert parse_client_id(text) == expected


@pytest.mark.parametrize(
    ("band", "expected"),
    [
        ("lt_100k", "under 100k"),
        ("100k_150k", "100k to 150k"),
        ("ge_300k", "300k and over"),
        ("30_39", "30 to 39"),
        ("lt_30", "under 30"),
        (None, "unknown"),
        ("weird", "weird"),
    ],
)
def test_band_ids_read_as_words(band: str | None, expected: str) -> None:
    assert band_label(band) == expected


def test_bands_sort_from_low_to_high() -> None:
    ids = ["ge_300k", "150k_225k", "lt_100k", "225k_300k", "100k_150k"]
    assert sorted(ids, key=band_sort_key) == [
        "lt_100k",
        "100k_150k",
        "150k_225k",
        "225k_300k",
        "ge_300k",
    ]
    assert sorted(["40_49", "ge_60", "lt_30", "30_39"], key=band_sort_key) == [
        "lt_30",
        "30_39",
        "40_49",
        "ge_60",
    ]


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("income", 180000.0, "180,000"),
        ("age_years", 41.6, "42 years"),
        ("years_employed", 6.93, "6.9 years"),
        ("income_band", "150k_225k", "150k to 225k"),
        ("gender", "M", "male"),
        ("owns_car", "N", "no"),
        ("occupation", None, "not provided"),
        ("children", 2, "2"),
    ],
)
def test_profile_values_in_words(key: str, value: object, expected: str) -> None:
    assert format_profile_value(key, value) == expected


def test_flags_are_yes_no_only_for_flag_columns() -> None:
    assert is_yes_no("FLAG_EMAIL")
    assert is_yes_no("REG_CITY_NOT_WORK_CITY")
    assert is_yes_no("LIVE_REGION_NOT_WORK_REGION")
    assert not is_yes_no("REGION_RATING_CLIENT")
    assert format_feature_value("LIVE_CITY_NOT_WORK_CITY", 1) == "yes"
    assert format_feature_value("REGION_RATING_CLIENT", 1) == "1"


def test_share_below_flips_for_days_features() -> None:
    # 30 % of clients have a more negative DAYS_BIRTH, i.e. are older: the client is older
    # than the other 70 %.
    assert display_share("DAYS_BIRTH", 0.3) == pytest.approx(0.7)
    assert display_share("AMT_CREDIT", 0.3) == pytest.approx(0.3)
    assert display_share("AMT_CREDIT", None) is None


def test_key_figures_read_as_ranges_in_display_order() -> None:
    rows = quantile_rows(
        "DAYS_BIRTH",
        {"p05": -22000.0, "p25": -18000.0, "p50": -15000.0, "p75": -12000.0, "p95": -9000.0},
    )
    assert rows[0] == ("Median", "41 years old")
    assert rows[1] == ("Middle half of the group", "33 years old to 49 years old")
    assert plain(rows[2][0]) == "90 % of the group"
    assert rows[2][1] == "25 years old to 60 years old"
    assert quantile_rows("AMT_CREDIT", {}) == []
