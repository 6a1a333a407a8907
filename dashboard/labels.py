"""Short human labels and topic groups for the raw application fields shown to officers.

Why here and not from the API: these are presentation words for the raw Kaggle application
columns (the descriptive information of a client), not model features. The model's feature
labels still come from the API (``/v1/features``) and win for engineered features; this table
only keeps the client sheet readable ("Income" rather than "AMT_INCOME_TOTAL").
"""

from __future__ import annotations

from collections.abc import Mapping

INFO_LABELS: dict[str, str] = {
    "SK_ID_CURR": "Client id",
    "NAME_CONTRACT_TYPE": "Contract type",
    "CODE_GENDER": "Gender",
    "FLAG_OWN_CAR": "Owns a car",
    "FLAG_OWN_REALTY": "Owns a home",
    "CNT_CHILDREN": "Number of children",
    "AMT_INCOME_TOTAL": "Annual income",
    "AMT_CREDIT": "Credit amount",
    "AMT_ANNUITY": "Loan annuity",
    "AMT_GOODS_PRICE": "Price of the goods",
    "NAME_TYPE_SUITE": "Accompanied by",
    "NAME_INCOME_TYPE": "Income type",
    "NAME_EDUCATION_TYPE": "Education",
    "NAME_FAMILY_STATUS": "Family status",
    "NAME_HOUSING_TYPE": "Housing",
    "REGION_POPULATION_RELATIVE": "Population density of the region",
    "DAYS_BIRTH": "Age",
    "DAYS_EMPLOYED": "Current employment",
    "DAYS_REGISTRATION": "Registration changed",
    "DAYS_ID_PUBLISH": "Identity document changed",
    "DAYS_LAST_PHONE_CHANGE": "Phone changed",
    "OWN_CAR_AGE": "Age of the car (years)",
    "OCCUPATION_TYPE": "Occupation",
    "ORGANIZATION_TYPE": "Employer type",
    "CNT_FAM_MEMBERS": "Family members",
    "REGION_RATING_CLIENT": "Region rating",
    "REGION_RATING_CLIENT_W_CITY": "Region rating (with city)",
    "WEEKDAY_APPR_PROCESS_START": "Weekday of the application",
    "HOUR_APPR_PROCESS_START": "Hour of the application",
    "EXT_SOURCE_1": "External score 1",
    "EXT_SOURCE_2": "External score 2",
    "EXT_SOURCE_3": "External score 3",
    "FLAG_MOBIL": "Gave a mobile phone",
    "FLAG_EMP_PHONE": "Gave a work phone (employer)",
    "FLAG_WORK_PHONE": "Gave a work phone",
    "FLAG_CONT_MOBILE": "Mobile phone reachable",
    "FLAG_PHONE": "Gave a home phone",
    "FLAG_EMAIL": "Gave an e-mail",
    "OBS_30_CNT_SOCIAL_CIRCLE": "Social circle: observed 30 days past due",
    "DEF_30_CNT_SOCIAL_CIRCLE": "Social circle: defaulted 30 days past due",
    "OBS_60_CNT_SOCIAL_CIRCLE": "Social circle: observed 60 days past due",
    "DEF_60_CNT_SOCIAL_CIRCLE": "Social circle: defaulted 60 days past due",
    "REG_REGION_NOT_LIVE_REGION": "Lives outside the registered region",
    "REG_REGION_NOT_WORK_REGION": "Works outside the registered region",
    "LIVE_REGION_NOT_WORK_REGION": "Works outside the region of residence",
    "REG_CITY_NOT_LIVE_CITY": "Lives outside the registered city",
    "REG_CITY_NOT_WORK_CITY": "Works outside the registered city",
    "LIVE_CITY_NOT_WORK_CITY": "Works outside the city of residence",
    "TOTALAREA_MODE": "Building: total area",
    "HOUSETYPE_MODE": "Building: house type",
    "WALLSMATERIAL_MODE": "Building: wall material",
    "EMERGENCYSTATE_MODE": "Building: emergency state",
    "FONDKAPREMONT_MODE": "Building: repair fund",
}

#: Topic groups of the client sheet, in display order; the first matching rule wins.
INFO_GROUPS: tuple[str, ...] = (
    "Loan",
    "Income and work",
    "Family and housing",
    "Identity and contact",
    "External scores",
    "Credit bureau enquiries",
    "Documents provided",
    "Region",
    "Building",
    "Credit history",
    "Other",
)

_GROUP_OF: dict[str, str] = {
    "NAME_CONTRACT_TYPE": "Loan",
    "AMT_CREDIT": "Loan",
    "AMT_ANNUITY": "Loan",
    "AMT_GOODS_PRICE": "Loan",
    "NAME_TYPE_SUITE": "Loan",
    "WEEKDAY_APPR_PROCESS_START": "Loan",
    "HOUR_APPR_PROCESS_START": "Loan",
    "AMT_INCOME_TOTAL": "Income and work",
    "NAME_INCOME_TYPE": "Income and work",
    "DAYS_EMPLOYED": "Income and work",
    "OCCUPATION_TYPE": "Income and work",
    "ORGANIZATION_TYPE": "Income and work",
    "NAME_EDUCATION_TYPE": "Income and work",
    "CNT_CHILDREN": "Family and housing",
    "CNT_FAM_MEMBERS": "Family and housing",
    "NAME_FAMILY_STATUS": "Family and housing",
    "NAME_HOUSING_TYPE": "Family and housing",
    "FLAG_OWN_CAR": "Family and housing",
    "OWN_CAR_AGE": "Family and housing",
    "FLAG_OWN_REALTY": "Family and housing",
    "CODE_GENDER": "Identity and contact",
    "DAYS_BIRTH": "Identity and contact",
    "DAYS_REGISTRATION": "Identity and contact",
    "DAYS_ID_PUBLISH": "Identity and contact",
    "DAYS_LAST_PHONE_CHANGE": "Identity and contact",
}


def info_label(column: str, api_labels: Mapping[str, str] | None = None) -> str:
    """The label of a raw column: this table, then the API's label, then a tidied name."""
    if column in INFO_LABELS:
        return INFO_LABELS[column]
    if api_labels and api_labels.get(column):
        return api_labels[column]
    return column.replace("_", " ").capitalize()


def info_group(column: str) -> str:
    """The topic group of a raw column, so an officer can show only "Loan" or "Family"."""
    if column in _GROUP_OF:
        return _GROUP_OF[column]
    if column.startswith("EXT_SOURCE"):
        return "External scores"
    if column.startswith("AMT_REQ_CREDIT_BUREAU"):
        return "Credit bureau enquiries"
    if column.startswith("FLAG_DOCUMENT"):
        return "Documents provided"
    if column.startswith(("FLAG_", "OBS_", "DEF_")):
        return "Identity and contact"
    if column.startswith(("REGION_", "REG_", "LIVE_")):
        return "Region"
    if column.endswith(("_AVG", "_MODE", "_MEDI")):
        return "Building"
    if column.startswith(("BUREAU", "PREV", "POS", "INSTAL", "CC_", "CREDIT_CARD")):
        return "Credit history"
    return "Other"


def feature_label(feature: str, api_label: str | None) -> str:
    """The label of a model feature in reasons and charts.

    Raw application columns get the short label above: the data dictionary's descriptions
    that bundles carry can be long and ambiguous (the three external scores share one
    description). Engineered features keep the API's label.
    """
    return INFO_LABELS.get(feature) or api_label or feature.replace("_", " ").capitalize()


#: Labels of the readable profile the client endpoint returns (``info``), in display order.
PROFILE_LABELS: dict[str, str] = {
    "contract_type": "Contract type",
    "credit": "Credit amount",
    "annuity": "Loan annuity",
    "goods_price": "Price of the goods",
    "income": "Annual income",
    "income_band": "Income band",
    "income_type": "Income type",
    "occupation": "Occupation",
    "organization": "Employer type",
    "years_employed": "Years in current job",
    "education": "Education",
    "gender": "Gender",
    "age_years": "Age",
    "age_band": "Age band",
    "family_status": "Family status",
    "children": "Number of children",
    "housing_type": "Housing",
    "owns_car": "Owns a car",
    "owns_realty": "Owns a home",
}


#: Topic of each profile field, matching :data:`INFO_GROUPS`.
PROFILE_TOPICS: dict[str, str] = {
    "contract_type": "Loan",
    "credit": "Loan",
    "annuity": "Loan",
    "goods_price": "Loan",
    "income": "Income and work",
    "income_band": "Income and work",
    "income_type": "Income and work",
    "occupation": "Income and work",
    "organization": "Income and work",
    "years_employed": "Income and work",
    "education": "Income and work",
    "gender": "Identity and contact",
    "age_years": "Identity and contact",
    "age_band": "Identity and contact",
    "family_status": "Family and housing",
    "children": "Family and housing",
    "housing_type": "Family and housing",
    "owns_car": "Family and housing",
    "owns_realty": "Family and housing",
}


#: The application column each profile field is read from: when the API also returns that
#: column as a key feature (with median and position), the profile line is not repeated.
PROFILE_COLUMNS: dict[str, str] = {
    "contract_type": "NAME_CONTRACT_TYPE",
    "credit": "AMT_CREDIT",
    "annuity": "AMT_ANNUITY",
    "goods_price": "AMT_GOODS_PRICE",
    "income": "AMT_INCOME_TOTAL",
    "income_type": "NAME_INCOME_TYPE",
    "occupation": "OCCUPATION_TYPE",
    "organization": "ORGANIZATION_TYPE",
    "years_employed": "DAYS_EMPLOYED",
    "education": "NAME_EDUCATION_TYPE",
    "gender": "CODE_GENDER",
    "age_years": "DAYS_BIRTH",
    "family_status": "NAME_FAMILY_STATUS",
    "children": "CNT_CHILDREN",
    "housing_type": "NAME_HOUSING_TYPE",
    "owns_car": "FLAG_OWN_CAR",
    "owns_realty": "FLAG_OWN_REALTY",
}
