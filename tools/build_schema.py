"""Build ``scoring/resources/kaggle_schema.json`` from the real Home Credit rows.

Run once by a maintainer (``python tools/build_schema.py ../shared/data/homecredit``); the JSON it
writes is committed, so neither the generator nor ingest ever needs the real rows at run time.

For each of the 8 Kaggle files it records the column order, the dtype family as Kaggle writes it
(``int``: no decimal point anywhere; ``float``: written as ``1.0``; ``str``), the keys, the allowed
levels of every text column and the data-dictionary description (used for human labels).

Allowed levels are the union of what the real samples show and the levels known from the full
Kaggle tables (listed below), so that ingest of the complete Kaggle files does not fail on a rare
level the 1,000-row samples happen to miss.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

APP = "application_{train|test}.csv"
TABLES = {
    "application_train": {"keys": ["SK_ID_CURR"], "dict": APP},
    "application_test": {"keys": ["SK_ID_CURR"], "dict": APP},
    "bureau": {"keys": ["SK_ID_BUREAU"], "dict": "bureau.csv"},
    "bureau_balance": {"keys": ["SK_ID_BUREAU", "MONTHS_BALANCE"], "dict": "bureau_balance.csv"},
    "previous_application": {"keys": ["SK_ID_PREV"], "dict": "previous_application.csv"},
    "POS_CASH_balance": {"keys": [], "dict": "POS_CASH_balance.csv"},
    "installments_payments": {"keys": [], "dict": "installments_payments.csv"},
    "credit_card_balance": {"keys": [], "dict": "credit_card_balance.csv"},
}

_NUMBERED = (
    [f"Business Entity Type {i}" for i in (1, 2, 3)]
    + [f"Industry: type {i}" for i in range(1, 14)]
    + [f"Trade: type {i}" for i in range(1, 8)]
    + [f"Transport: type {i}" for i in range(1, 5)]
)
SUITE = [
    "Unaccompanied",
    "Family",
    "Spouse, partner",
    "Children",
    "Other_B",
    "Other_A",
    "Group of people",
]
# Levels present in the full Kaggle tables (some are too rare to appear in the samples).
KNOWN_LEVELS: dict[str, dict[str, list[str]]] = {
    "application": {
        "NAME_CONTRACT_TYPE": ["Cash loans", "Revolving loans"],
        "CODE_GENDER": ["F", "M", "XNA"],
        "NAME_TYPE_SUITE": SUITE,
        "NAME_INCOME_TYPE": [
            "Working",
            "State servant",
            "Commercial associate",
            "Pensioner",
            "Unemployed",
            "Student",
            "Businessman",
            "Maternity leave",
        ],
        "NAME_EDUCATION_TYPE": [
            "Secondary / secondary special",
            "Higher education",
            "Incomplete higher",
            "Lower secondary",
            "Academic degree",
        ],
        "NAME_FAMILY_STATUS": [
            "Married",
            "Single / not married",
            "Civil marriage",
            "Separated",
            "Widow",
            "Unknown",
        ],
        "NAME_HOUSING_TYPE": [
            "House / apartment",
            "With parents",
            "Municipal apartment",
            "Rented apartment",
            "Office apartment",
            "Co-op apartment",
        ],
        "ORGANIZATION_TYPE": _NUMBERED,
    },
    "bureau": {
        "CREDIT_ACTIVE": ["Closed", "Active", "Sold", "Bad debt"],
        "CREDIT_CURRENCY": ["currency 1", "currency 2", "currency 3", "currency 4"],
        "CREDIT_TYPE": [
            "Consumer credit",
            "Credit card",
            "Car loan",
            "Mortgage",
            "Microloan",
            "Loan for business development",
            "Another type of loan",
            "Unknown type of loan",
            "Loan for working capital replenishment",
            "Cash loan (non-earmarked)",
            "Real estate loan",
            "Loan for the purchase of equipment",
            "Loan for purchase of shares (margin lending)",
            "Interbank credit",
            "Mobile operator loan",
        ],
    },
    "bureau_balance": {"STATUS": ["C", "X", "0", "1", "2", "3", "4", "5"]},
    "POS_CASH_balance": {
        "NAME_CONTRACT_STATUS": [
            "Active",
            "Completed",
            "Signed",
            "Demand",
            "Returned to the store",
            "Approved",
            "Amortized debt",
            "Canceled",
            "XNA",
        ],
    },
    "credit_card_balance": {
        "NAME_CONTRACT_STATUS": [
            "Active",
            "Completed",
            "Signed",
            "Demand",
            "Sent proposal",
            "Refused",
            "Approved",
        ],
    },
    "previous_application": {
        "NAME_CONTRACT_TYPE": ["Cash loans", "Consumer loans", "Revolving loans", "XNA"],
        "NAME_CASH_LOAN_PURPOSE": [
            "XAP",
            "XNA",
            "Repairs",
            "Other",
            "Urgent needs",
            "Buying a used car",
            "Building a house or an annex",
            "Everyday expenses",
            "Medicine",
            "Payments on other loans",
            "Education",
            "Journey",
            "Purchase of electronic equipment",
            "Buying a new car",
            "Wedding / gift / holiday",
            "Buying a home",
            "Car repairs",
            "Furniture",
            "Buying a holiday home / land",
            "Business development",
            "Gasification / water supply",
            "Buying a garage",
            "Hobby",
            "Money for a third person",
            "Refusal to name the goal",
        ],
        "NAME_CONTRACT_STATUS": ["Approved", "Canceled", "Refused", "Unused offer"],
        "NAME_PAYMENT_TYPE": [
            "Cash through the bank",
            "XNA",
            "Non-cash from your account",
            "Cashless from the account of the employer",
        ],
        "CODE_REJECT_REASON": [
            "XAP",
            "HC",
            "LIMIT",
            "SCO",
            "CLIENT",
            "SCOFR",
            "XNA",
            "VERIF",
            "SYSTEM",
        ],
        "NAME_TYPE_SUITE": SUITE,
        "NAME_CLIENT_TYPE": ["Repeater", "New", "Refreshed", "XNA"],
        "NAME_GOODS_CATEGORY": [
            "XNA",
            "Mobile",
            "Consumer Electronics",
            "Computers",
            "Audio/Video",
            "Furniture",
            "Photo / Cinema Equipment",
            "Construction Materials",
            "Clothing and Accessories",
            "Auto Accessories",
            "Jewelry",
            "Homewares",
            "Medical Supplies",
            "Vehicles",
            "Sport and Leisure",
            "Gardening",
            "Other",
            "Office Appliances",
            "Tourism",
            "Medicine",
            "Direct Sales",
            "Fitness",
            "Additional Service",
            "Education",
            "Weapon",
            "Insurance",
            "House Construction",
            "Animals",
        ],
        "NAME_PORTFOLIO": ["POS", "Cash", "XNA", "Cards", "Cars"],
        "NAME_PRODUCT_TYPE": ["XNA", "x-sell", "walk-in"],
        "CHANNEL_TYPE": [
            "Credit and cash offices",
            "Country-wide",
            "Stone",
            "Regional / Local",
            "Contact center",
            "AP+ (Cash loan)",
            "Channel of corporate sales",
            "Car dealer",
        ],
        "NAME_SELLER_INDUSTRY": [
            "XNA",
            "Consumer electronics",
            "Connectivity",
            "Furniture",
            "Construction",
            "Clothing",
            "Industry",
            "Auto technology",
            "Jewelry",
            "MLM partners",
            "Tourism",
        ],
        "NAME_YIELD_GROUP": ["XNA", "middle", "high", "low_normal", "low_action"],
    },
}


def _family(text: pd.Series) -> str:
    """Dtype family as Kaggle wrote the column: int, float (has a '.'/'e') or str."""
    vals = text.dropna()
    if vals.empty:
        return "float"
    numeric = pd.to_numeric(vals, errors="coerce")
    if numeric.isna().any():
        return "str"
    return "float" if vals.str.contains(r"[.eE]", regex=True).any() else "int"


def build(src: Path) -> dict:
    desc = pd.read_csv(src / "HomeCredit_columns_description.csv", encoding="cp1252")
    out: dict = {}
    for table, meta in TABLES.items():
        frames = [
            pd.read_csv(
                src / "head" / f"{table}.csv", dtype=str, keep_default_na=False, na_values=[""]
            )
        ]
        sample = src / "random_sample" / f"{table}.csv"
        if sample.exists():
            frames.append(pd.read_csv(sample, dtype=str, keep_default_na=False, na_values=[""]))
        if table == "application_train":
            frames.append(
                pd.read_csv(
                    src / "application_train_sample.csv.gz",
                    dtype=str,
                    keep_default_na=False,
                    na_values=[""],
                )
            )
        if table == "application_test":
            frames.append(
                pd.read_csv(
                    src / "application_test.csv.gz",
                    dtype=str,
                    keep_default_na=False,
                    na_values=[""],
                )
            )
        df = pd.concat(frames, ignore_index=True)
        group = "application" if table.startswith("application") else table
        known = KNOWN_LEVELS.get(group, {})
        d = desc[desc["Table"] == meta["dict"]].set_index("Row")["Description"].to_dict()
        cols = []
        for c in df.columns:
            fam = _family(df[c])
            if c == "TARGET":
                fam = "int"
            col: dict = {
                "name": c,
                "dtype": fam,
                "description": str(d.get(c, d.get(c.upper(), ""))).strip(),
            }
            if fam == "str":
                seen = [v for v in df[c].dropna().unique()]
                col["levels"] = sorted(set(seen) | set(known.get(c, [])))
            cols.append(col)
        out[table] = {"keys": meta["keys"], "columns": cols}
    return out


def main() -> None:
    src = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/homecredit")
    dst = Path(__file__).resolve().parents[1] / "scoring" / "resources" / "kaggle_schema.json"
    dst.write_text(json.dumps(build(src), indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {dst}")


if __name__ == "__main__":
    main()
