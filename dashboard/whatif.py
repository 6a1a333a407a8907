"""The what-if request: a known client's application with another income or credit amount.

Why a module of its own: building a request the API accepts is the delicate part of the
what-if panel (strict types, unknown fields refused, no endpoint for the raw application), so
it is a pure function with unit tests, separate from the page layout.
"""

from __future__ import annotations

from typing import Any

from dashboard.client import ClientDetail, Explanation
from dashboard.formatting import DAYS_PER_YEAR, is_missing


def info_number(info: dict[str, Any], key: str) -> float | None:
    """A numeric field of the client sheet, ``None`` when absent, missing or not a number."""
    value = info.get(key)
    if value is None or isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return None if is_missing(number) else number


def what_if_application(
    detail: ClientDetail,
    explanation: Explanation | None,
    fields: dict[str, str],
    income: float,
    credit: float,
    scale_annuity: bool,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the client's application as the API accepts it, the same with the new amounts).

    The API has no endpoint for a known client's raw application, so it is rebuilt from the
    values the API does return: every model feature of the explanation (all of them, decoded)
    whose name is an application field of ``POST /v1/score`` (read from the API's OpenAPI
    description), completed from the readable profile for the required ones. Integer fields get
    integers (the API is strict). ``SK_ID_CURR`` is left out on purpose: a what-if is not the
    client's application and must not be recorded as one.
    """
    values: dict[str, Any] = {f.feature: f.value for f in detail.features}
    if explanation is not None:
        values.update({c.feature: c.value for c in explanation.contributions})
    info = detail.info
    fallback = {
        "NAME_CONTRACT_TYPE": info.get("contract_type"),
        "CODE_GENDER": info.get("gender"),
        "AMT_INCOME_TOTAL": info.get("income"),
        "AMT_CREDIT": info.get("credit"),
        "AMT_ANNUITY": info.get("annuity"),
        "AMT_GOODS_PRICE": info.get("goods_price"),
    }
    age = info_number(info, "age_years")
    if age is not None:
        fallback["DAYS_BIRTH"] = -round(age * DAYS_PER_YEAR)
    application: dict[str, Any] = {}
    for name, kind in fields.items():
        if name == "SK_ID_CURR":
            continue
        value = values.get(name)
        if is_missing(value):
            value = fallback.get(name)
        if is_missing(value):
            continue
        if kind == "integer" and isinstance(value, int | float):
            value = round(value)
        application[name] = value
    changed = dict(application)
    old_credit = info_number(application, "AMT_CREDIT")
    changed["AMT_INCOME_TOTAL"] = income
    changed["AMT_CREDIT"] = credit
    annuity = info_number(application, "AMT_ANNUITY")
    if scale_annuity and annuity is not None and old_credit:
        changed["AMT_ANNUITY"] = annuity * credit / old_credit
    return application, changed
