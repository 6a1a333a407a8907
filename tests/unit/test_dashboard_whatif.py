"""The what-if request: a client's application with new amounts, in the API's strict types."""

from __future__ import annotations

import pytest

from dashboard.client import ClientDetail, Contribution, Explanation, FeatureValue, Score
from dashboard.whatif import info_number, what_if_application

#: Types as the API's OpenAPI ``Application`` schema declares them (a subset).
FIELDS = {
    "SK_ID_CURR": "integer",
    "NAME_CONTRACT_TYPE": "string",
    "CODE_GENDER": "string",
    "AMT_INCOME_TOTAL": "number",
    "AMT_CREDIT": "number",
    "AMT_ANNUITY": "number",
    "DAYS_BIRTH": "integer",
    "CNT_CHILDREN": "integer",
    "EXT_SOURCE_2": "number",
    "OCCUPATION_TYPE": "string",
}


def client(features: list[FeatureValue] | None = None) -> ClientDetail:
    return ClientDetail(
        sk_id_curr=100001,
        score=Score(0.2, 0.1, "refused", [], "v1"),
        info={
            "contract_type": "Cash loans",
            "gender": "F",
            "age_years": 40.0,
            "income": 100_000.0,
            "credit": 400_000.0,
            "annuity": 20_000.0,
        },
        features=features or [],
    )


def explanation(values: dict[str, object]) -> Explanation:
    return Explanation(
        sk_id_curr=100001,
        contributions=[
            Contribution(name, name, value, 0.1, "increases_risk") for name, value in values.items()
        ],
    )


def test_new_amounts_replace_the_old_and_the_annuity_follows_the_credit() -> None:
    before, after = what_if_application(
        client(),
        explanation(
            {"AMT_INCOME_TOTAL": 100_000.0, "AMT_CREDIT": 400_000.0, "AMT_ANNUITY": 20_000.0}
        ),
        FIELDS,
        income=150_000.0,
        credit=200_000.0,
        scale_annuity=True,
    )
    assert before["AMT_INCOME_TOTAL"] == 100_000.0
    assert after["AMT_INCOME_TOTAL"] == 150_000.0
    assert after["AMT_CREDIT"] == 200_000.0
    assert after["AMT_ANNUITY"] == pytest.approx(10_000.0)
    # everything else is the same application
    assert {k: v for k, v in after.items() if not k.startswith("AMT_")} == {
        k: v for k, v in before.items() if not k.startswith("AMT_")
    }


def test_annuity_kept_when_not_scaled() -> None:
    _, after = what_if_application(
        client(), None, FIELDS, income=100_000.0, credit=800_000.0, scale_annuity=False
    )
    assert after["AMT_ANNUITY"] == 20_000.0


def test_request_keeps_only_application_fields_in_their_types() -> None:
    before, _ = what_if_application(
        client(),
        explanation(
            {
                "DAYS_BIRTH": -14610.0,  # the API sends floats; the field is an integer
                "CNT_CHILDREN": 2.0,
                "EXT_SOURCE_2": 0.61,
                "BUREAU_CREDIT_ACTIVE_COUNT": 3.0,  # engineered: not an application field
                "OCCUPATION_TYPE": None,  # missing: left out, not sent as null
            }
        ),
        FIELDS,
        income=100_000.0,
        credit=400_000.0,
        scale_annuity=True,
    )
    assert before["DAYS_BIRTH"] == -14610 and isinstance(before["DAYS_BIRTH"], int)
    assert before["CNT_CHILDREN"] == 2 and isinstance(before["CNT_CHILDREN"], int)
    assert before["EXT_SOURCE_2"] == 0.61
    assert "BUREAU_CREDIT_ACTIVE_COUNT" not in before
    assert "OCCUPATION_TYPE" not in before


def test_what_if_is_never_sent_as_the_clients_own_application() -> None:
    before, after = what_if_application(
        client(), explanation({"SK_ID_CURR": 100001}), FIELDS, 1.0, 1.0, True
    )
    assert "SK_ID_CURR" not in before and "SK_ID_CURR" not in after


def test_required_fields_fall_back_on_the_profile() -> None:
    before, _ = what_if_application(client(), None, FIELDS, 100_000.0, 400_000.0, True)
    assert before["NAME_CONTRACT_TYPE"] == "Cash loans"
    assert before["CODE_GENDER"] == "F"
    assert before["DAYS_BIRTH"] == -14610
    assert before["AMT_CREDIT"] == 400_000.0


def test_explanation_values_win_over_the_rounded_profile() -> None:
    features = [FeatureValue("DAYS_BIRTH", "Age", "numeric", -14000.0, -15000.0, 0.4)]
    before, _ = what_if_application(
        client(features), explanation({"DAYS_BIRTH": -14001.0}), FIELDS, 1.0, 1.0, True
    )
    assert before["DAYS_BIRTH"] == -14001


@pytest.mark.parametrize(
    ("value", "expected"),
    [(3, 3.0), ("2.5", 2.5), (None, None), (float("nan"), None), ("abc", None), (True, None)],
)
def test_info_number(value: object, expected: float | None) -> None:
    assert info_number({"x": value}, "x") == expected
