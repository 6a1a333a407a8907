"""Request and response schemas of the scoring API.

Request structs are *generated* from the Kaggle schema (:mod:`scoring.schema`, the same spec
ingest validates files with), so the API accepts exactly the columns, types and levels the
model was trained on:

- every column keeps its Kaggle type: numbers (Kaggle ``int`` columns must be whole numbers,
  ``12`` or ``12.0``) or text; a text column with known levels is an enum (``Literal``) — an
  unseen level is rejected, not silently turned into NaN;
- every number has bounds (:func:`column_bounds`): plausibility ranges that every real Kaggle
  row satisfies (checked by a test on the real rows) and that keep NaN/inf/1e308 out;
- unknown fields are rejected (``forbid_unknown_fields``): a misspelt ``AMT_CREDT`` must not
  be scored as a missing ``AMT_CREDIT``;
- only the few columns that define an application are required; any other column may be
  missing (null), which the model treats as missing, as in training.

Bodies are decoded by msgspec in strict mode (no "123" → 123 coercion), see :mod:`api.errors`
for how a failure becomes a 4xx naming the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any, Literal

import msgspec

from scoring.schema import (
    APPLICATION_TEST,
    DAYS_SENTINEL,
    HISTORY_TABLES,
    ColumnSpec,
    TableSchema,
    table_schema,
)

ID = "SK_ID_CURR"
MAX_ID = 2**31 - 1
#: Columns a raw application must carry: without them there is no loan to score.
REQUIRED_APPLICATION: tuple[str, ...] = (
    "NAME_CONTRACT_TYPE",
    "CODE_GENDER",
    "AMT_INCOME_TOTAL",
    "AMT_CREDIT",
    "DAYS_BIRTH",
)
#: Key columns a history record must carry (``SK_ID_CURR`` is implied by the application).
REQUIRED_HISTORY: dict[str, tuple[str, ...]] = {
    "bureau": ("SK_ID_BUREAU",),
    "bureau_balance": ("SK_ID_BUREAU", "MONTHS_BALANCE"),
    "previous_application": ("SK_ID_PREV",),
    "POS_CASH_balance": ("SK_ID_PREV", "MONTHS_BALANCE"),
    "installments_payments": ("SK_ID_PREV",),
    "credit_card_balance": ("SK_ID_PREV", "MONTHS_BALANCE"),
}
#: Records per history table in one request (a client with 100 bureau credits × 96 months of
#: balance is < 10 k rows; the body-size limit bounds the total anyway).
MAX_HISTORY_RECORDS = 20_000
MAX_BATCH = 1_000
MAX_TEXT = 200

# (table or "*", column pattern, low, high): first match wins. Application amounts and days are
# one-signed; history tables carry negative balances and future end dates, hence looser bounds.
_BOUNDS: tuple[tuple[str, str, float, float], ...] = (
    ("*", r"SK_ID_.*", 0, MAX_ID),
    ("*", r"N?FLAG_.*|REG_.*_NOT_.*|LIVE_.*_NOT_.*", 0, 1),
    ("application", r"DAYS_EMPLOYED", -40_000, DAYS_SENTINEL),
    ("application", r"DAYS_.*", -40_000, 0),
    ("*", r"DAYS_.*", -40_000, DAYS_SENTINEL),
    ("*", r"MONTHS_BALANCE", -1_200, 0),
    ("*", r"EXT_SOURCE_\d", 0, 1),
    ("application", r".*_(AVG|MODE|MEDI)", 0, 1),
    ("*", r"REGION_POPULATION_RELATIVE", 0, 1),
    ("*", r"REGION_RATING_CLIENT.*", -1, 3),
    ("*", r"HOUR_APPR_PROCESS_START", 0, 23),
    ("*", r"OWN_CAR_AGE", 0, 150),
    ("*", r"CNT_(CHILDREN|FAM_MEMBERS)", 0, 100),
    ("*", r".*_SOCIAL_CIRCLE|AMT_REQ_CREDIT_BUREAU_.*", 0, 10_000),
    ("application", r"AMT_.*", 0, 1e10),
    ("*", r"AMT_.*", -1e10, 1e10),
    ("*", r"RATE_.*", -1, 1),
    ("*", r"SK_DPD.*|CNT_.*|NUM_INSTALMENT_.*|CREDIT_DAY_OVERDUE", 0, 100_000),
    ("*", r"SELLERPLACE_AREA", -1, 1e8),
    ("*", r".*", -1e12, 1e12),
)


def column_bounds(table: str, column: str) -> tuple[float, float]:
    """Plausibility bounds ``[low, high]`` of a numeric column (application or history).

    ``DAYS_EMPLOYED`` allows 365243, Kaggle's pensioner/unemployed sentinel (not 1,000 years of
    work); the other application ``DAYS_*`` count days *before* the application, so ``<= 0``.
    """
    family = "application" if table.startswith("application") else table
    for tbl, pattern, lo, hi in _BOUNDS:
        if tbl in ("*", family) and re.fullmatch(pattern, column):
            return float(lo), float(hi)
    raise AssertionError("unreachable: the last rule matches everything")  # pragma: no cover


def _field_type(table: str, col: ColumnSpec) -> Any:
    """The msgspec type of one column (without the ``| None``)."""
    if col.dtype == "str":
        if col.levels:
            return Literal[tuple(col.levels)]
        return Annotated[str, msgspec.Meta(max_length=MAX_TEXT)]
    lo, hi = column_bounds(table, col.name)
    if col.dtype == "int":
        # a whole number, also when written 12.0 (JSON Schema's "integer" allows it, and a
        # DataFrame with gaps serialises integer columns that way); 12.5 is rejected
        return Annotated[float, msgspec.Meta(ge=lo, le=hi, multiple_of=1)]
    return Annotated[float, msgspec.Meta(ge=lo, le=hi)]


def _record_struct(
    struct_name: str, schema: TableSchema, required: tuple[str, ...], skip: tuple[str, ...]
) -> type[msgspec.Struct]:
    """A strict struct for one row of a Kaggle table: Kaggle column names, types, bounds."""
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    for col in schema.columns:
        if col.name in skip:
            continue
        typ = _field_type(schema.name, col)
        if col.name in required:
            fields.append((col.name, typ))
        else:
            fields.append((col.name, typ | None, None))
    # required fields first: msgspec wants non-default fields before defaulted ones
    fields.sort(key=lambda f: len(f) == 3)
    return msgspec.defstruct(
        struct_name,
        fields,
        kw_only=True,
        forbid_unknown_fields=True,
        omit_defaults=True,
        module=__name__,
    )


def _camel(table: str) -> str:
    special = {"POS_CASH_balance": "PosCashBalance"}
    return special.get(table) or "".join(p.title() for p in table.split("_"))


@dataclass(frozen=True)
class RequestTypes:
    """The generated request structs (one set per process, see :func:`request_types`)."""

    application: type[msgspec.Struct]
    history_records: dict[str, type[msgspec.Struct]]
    history: type[msgspec.Struct]
    score_request: type[msgspec.Struct]
    batch_request: type[msgspec.Struct]

    def all(self) -> list[type[msgspec.Struct]]:
        return [self.score_request, self.batch_request]


@cache
def request_types() -> RequestTypes:
    """Build the request structs from the Kaggle schema (cached: built once per process)."""
    app = _record_struct("Application", table_schema(APPLICATION_TEST), REQUIRED_APPLICATION, ())
    # SK_ID_CURR is implied by the application a record is sent with: a record cannot name
    # another client (no cross-field rule the schema could not express)
    records = {
        t: _record_struct(f"{_camel(t)}Record", table_schema(t), REQUIRED_HISTORY[t], (ID,))
        for t in HISTORY_TABLES
    }
    history = msgspec.defstruct(
        "History",
        [
            (
                t,
                Annotated[list[rec], msgspec.Meta(max_length=MAX_HISTORY_RECORDS)] | None,  # type: ignore[valid-type]
                None,
            )
            for t, rec in records.items()
        ],
        kw_only=True,
        forbid_unknown_fields=True,
        omit_defaults=True,
        module=__name__,
    )
    score = msgspec.defstruct(
        "ScoreRequest",
        [("application", app), ("history", history | None, None)],
        kw_only=True,
        forbid_unknown_fields=True,
        module=__name__,
    )
    batch = msgspec.defstruct(
        "BatchScoreRequest",
        [
            (
                "applications",
                Annotated[list[score], msgspec.Meta(min_length=1, max_length=MAX_BATCH)],  # type: ignore[valid-type]
            )
        ],
        kw_only=True,
        forbid_unknown_fields=True,
        module=__name__,
    )
    return RequestTypes(app, records, history, score, batch)


def request_schema_components() -> dict[str, dict[str, Any]]:
    """JSON Schema of the request structs, as OpenAPI ``components/schemas`` entries.

    One rule msgspec's per-field bounds cannot state is added to the published schema:
    ``DAYS_EMPLOYED`` is ``<= 0`` or exactly the 365243 sentinel (the API enforces it after
    decoding, see :mod:`api.service`).
    """
    _, components = msgspec.json.schema_components(
        request_types().all(), ref_template="#/components/schemas/{name}"
    )
    lo, _ = column_bounds("application", "DAYS_EMPLOYED")
    components["Application"]["properties"]["DAYS_EMPLOYED"] = {
        "anyOf": [
            {"type": "number", "multipleOf": 1, "minimum": lo, "maximum": 0},
            {"const": DAYS_SENTINEL},
            {"type": "null"},
        ],
        "default": None,
        "description": f"days before the application (<= 0), or {DAYS_SENTINEL} for "
        "pensioners/unemployed (Kaggle's sentinel)",
    }
    return components


def level_hint(path: tuple[str, ...]) -> tuple[str, ...] | None:
    """Allowed levels of the enum field at ``path`` (e.g. ``("application", "CODE_GENDER")``).

    Used to turn msgspec's "Invalid enum value" into a message listing what is allowed.
    """
    if not path:
        return None
    column = path[-1]
    table = APPLICATION_TEST
    if len(path) >= 3 and path[-3] in HISTORY_TABLES:
        table = path[-3]
    elif len(path) >= 2 and path[-2] in HISTORY_TABLES:
        table = path[-2]
    try:
        return table_schema(table).column(column).levels
    except KeyError:
        return None


# --------------------------------------------------------------------------------------------
# Responses
# --------------------------------------------------------------------------------------------
Decision = Literal["approved", "refused"]
Attribution = Literal["path", "treeshap", "linear"]
Direction = Literal["increases_risk", "decreases_risk"]
FeatureKind = Literal["numeric", "categorical"]
Value = float | str | None


class ReasonCode(msgspec.Struct, kw_only=True):
    """A feature that pushed this applicant toward refusal (log-odds contribution > 0)."""

    feature: str
    label: str
    value: Value
    contribution: float


class ScoreResponse(msgspec.Struct, kw_only=True):
    """The answer to one application: calibrated probability, decision and why."""

    request_id: str
    sk_id_curr: int | None
    probability: float
    threshold: float
    decision: Decision
    reason_codes: list[ReasonCode]
    attribution: Attribution | None
    model_version: str


class BatchItem(msgspec.Struct, kw_only=True):
    """One application of a batch, in request order."""

    index: int
    sk_id_curr: int | None
    probability: float
    decision: Decision
    reason_codes: list[ReasonCode]


class BatchScoreResponse(msgspec.Struct, kw_only=True):
    request_id: str
    model_version: str
    threshold: float
    attribution: Attribution | None
    results: list[BatchItem]


class ClientScore(msgspec.Struct, kw_only=True):
    probability: float
    threshold: float
    decision: Decision
    reason_codes: list[ReasonCode]
    attribution: Attribution | None
    model_version: str


class ClientInfo(msgspec.Struct, kw_only=True):
    """Descriptive facts of a known client (raw application columns, readable names)."""

    contract_type: str | None
    gender: str | None
    age_years: float | None
    age_band: str | None
    income: float | None
    income_band: str | None
    credit: float | None
    annuity: float | None
    goods_price: float | None
    income_type: str | None
    education: str | None
    family_status: str | None
    housing_type: str | None
    occupation: str | None
    organization: str | None
    children: int | None
    years_employed: float | None
    owns_car: str | None
    owns_realty: str | None


class FeatureSummary(msgspec.Struct, kw_only=True):
    """A client's value of one feature next to the known-client population."""

    feature: str
    label: str
    kind: FeatureKind
    value: Value
    population_median: Value
    population_percentile: float | None


class ClientResponse(msgspec.Struct, kw_only=True):
    request_id: str
    sk_id_curr: int
    score: ClientScore
    info: ClientInfo
    features: list[FeatureSummary]


class ClientRow(msgspec.Struct, kw_only=True):
    """One known client in a list."""

    sk_id_curr: int
    contract_type: str | None
    gender: str | None
    age_years: float | None
    age_band: str | None
    income: float | None
    income_band: str | None
    credit: float | None
    probability: float
    decision: Decision


class ClientPage(msgspec.Struct, kw_only=True):
    items: list[ClientRow]
    total: int
    page: int
    page_size: int
    pages: int


class Contribution(msgspec.Struct, kw_only=True):
    feature: str
    label: str
    value: Value
    contribution: float
    direction: Direction


class ExplanationResponse(msgspec.Struct, kw_only=True):
    """All (or the top-N by magnitude) contributions of a known client's score, in log-odds.

    ``base_value + sum(all contributions) == raw_score``; the probability is the calibrated
    transform of ``raw_score``.
    """

    request_id: str
    sk_id_curr: int
    model_version: str
    method: Attribution
    units: Literal["log-odds"]
    base_value: float
    raw_score: float
    probability: float
    threshold: float
    decision: Decision
    n_features: int
    contributions: list[Contribution]


class GroupCriteria(msgspec.Struct, kw_only=True):
    age_band: str | None
    income_band: str | None
    contract_type: str | None
    description: str


class GroupFeature(msgspec.Struct, kw_only=True):
    """One feature across a comparable group, next to the client's own value."""

    feature: str
    label: str
    kind: FeatureKind
    client_value: Value
    group_median: Value
    group_q25: float | None
    group_q75: float | None
    population_median: Value
    client_percentile_in_group: float | None


class SimilarResponse(msgspec.Struct, kw_only=True):
    sk_id_curr: int
    criteria: GroupCriteria
    count: int
    approval_rate: float | None
    mean_probability: float | None
    features: list[GroupFeature]
    items: list[ClientRow]


class Histogram(msgspec.Struct, kw_only=True):
    edges: list[float]
    counts: list[int]


class PopulationResponse(msgspec.Struct, kw_only=True):
    """Distribution of one feature over all known clients or a client's comparable group.

    Categorical features use one bin per level: ``edges`` are ``-0.5, 0.5, ...`` around the
    level codes and ``levels`` names each bin.
    """

    feature: str
    label: str
    kind: FeatureKind
    group: Literal["all", "similar"]
    criteria: GroupCriteria | None
    n: int
    n_missing: int
    histogram: Histogram
    levels: list[str] | None
    quantiles: dict[str, float]
    mean: float | None
    sk_id_curr: int | None
    client_value: Value
    client_percentile: float | None


class FeatureInfo(msgspec.Struct, kw_only=True):
    name: str
    label: str
    kind: FeatureKind
    levels: list[str] | None
    importance_rank: int | None


class FeatureList(msgspec.Struct, kw_only=True):
    features: list[FeatureInfo]


class ModelResponse(msgspec.Struct, kw_only=True):
    model_version: str
    model_kind: str
    threshold: float
    calibration_method: str
    n_features: int
    metrics: dict[str, Any]
    cost: dict[str, float]
    top_features: list[str]
    reason_attribution: Attribution
    data_digest: str
    git_rev: str


class Health(msgspec.Struct, kw_only=True):
    status: Literal["ok"]


class Readiness(msgspec.Struct, kw_only=True):
    ready: bool
    model_version: str | None
    n_clients: int | None


class FieldError(msgspec.Struct, kw_only=True):
    """One reason a request was refused: which field (dotted path) and why."""

    field: str
    reason: str
    source: Literal["body", "query", "path", "header"]


class ErrorBody(msgspec.Struct, kw_only=True):
    """Every 4xx/5xx answer: a stable ``error`` code, a sentence, and the faulty fields."""

    status_code: int
    error: str
    detail: str
    errors: list[FieldError]
    request_id: str | None
