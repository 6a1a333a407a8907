"""Client-relationship dashboard: explain a credit decision to a client, in plain language.

Run: ``API_URL=http://127.0.0.1:8000 streamlit run dashboard/app.py`` (``make dashboard``).

The page follows the officer's journey, top to bottom: find a client (by id or by criteria),
read the decision against the limit, the main reasons, the client's information, how the client
compares with all and with similar clients, and what would change with another income or credit
amount. Every number comes from the scoring API over HTTP (CONVENTIONS point 10): this module
holds layout only; wording lives in :mod:`dashboard.formatting`, charts in
:mod:`dashboard.charts`, HTTP in :mod:`dashboard.client`.

Accessibility (WCAG 2.1): every chart has an accessible name, a caption and a text summary or
table; decisions are always written out in words; the theme (``.streamlit/config.toml``) keeps
text contrast above 4.5:1; the layout is a single column that reflows at 200 % zoom.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import pandas as pd
import streamlit as st

from dashboard import charts
from dashboard.client import (
    ApiClient,
    ApiError,
    ClientDetail,
    ClientNotFoundError,
    ClientRow,
    Explanation,
    FeatureInfo,
    FeatureValue,
    ModelInfo,
    Population,
    Score,
    SimilarGroup,
    api_url_from_env,
)
from dashboard.formatting import (
    band_label,
    band_sort_key,
    decision_counts_sentence,
    decision_icon,
    decision_sentence,
    direction_marker,
    direction_of,
    display_histogram,
    display_share,
    filter_info_rows,
    format_amount,
    format_feature_value,
    format_number,
    format_percent,
    format_profile_value,
    format_share,
    gauge_domain_max,
    is_missing,
    is_yes_no,
    parse_client_id,
    percentile_from_histogram,
    position_sentence,
    quantile_rows,
    reason_sentence,
    risk_change_sentence,
    to_display,
)
from dashboard.labels import (
    INFO_GROUPS,
    PROFILE_COLUMNS,
    PROFILE_LABELS,
    PROFILE_TOPICS,
    feature_label,
    info_group,
)
from dashboard.whatif import info_number, what_if_application

PAGE_TITLE = "Credit decision explainer · Prêt à dépenser"
ANY = "Any"
RESULTS_PAGE_SIZE = 15
SCATTER_LIMIT = 600
CACHE_TTL_S = 120
T = TypeVar("T")

CONTRACT_TYPES = ["Cash loans", "Revolving loans"]
GENDERS = {"F": "female", "M": "male"}
DECISION_WORDS = {"approved": "approved", "refused": "refused"}
#: Per-client fields the clients list carries, usable as scatter axes (label, formatter).
SCATTER_FIELDS: dict[str, str] = {
    "income": "Annual income",
    "credit": "Credit amount",
    "credit_to_income": "Credit-to-income ratio",
    "age_years": "Age (years)",
    "probability": "Estimated risk of default",
}


# --------------------------------------------------------------------------------------------
# Cached API access (one HTTP client per URL; answers cached briefly to keep reruns fast)
# --------------------------------------------------------------------------------------------
@st.cache_resource(show_spinner=False)
def get_api(url: str) -> ApiClient:
    """One pooled HTTP client per API URL, shared by every rerun and session."""
    return ApiClient(url)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def fetch_model(url: str) -> ModelInfo:
    return get_api(url).model()


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def fetch_features(url: str) -> list[FeatureInfo]:
    return get_api(url).features()


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def fetch_client(url: str, sk_id_curr: int) -> ClientDetail:
    return get_api(url).client(sk_id_curr)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def fetch_explanation(url: str, sk_id_curr: int) -> Explanation:
    return get_api(url).explanation(sk_id_curr)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def fetch_similar(url: str, sk_id_curr: int) -> SimilarGroup:
    return get_api(url).similar(sk_id_curr)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def fetch_population(url: str, feature: str, group: str, sk_id_curr: int) -> Population:
    return get_api(url).population(feature, group=group, sk_id_curr=sk_id_curr)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def fetch_clients(url: str, filters: tuple[tuple[str, str], ...], page: int) -> Any:
    return get_api(url).clients(dict(filters), page=page, page_size=RESULTS_PAGE_SIZE)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def fetch_application_fields(url: str) -> dict[str, str]:
    return get_api(url).application_fields()


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def fetch_all_clients(
    url: str, limit: int, filters: tuple[tuple[str, str], ...] = ()
) -> list[ClientRow]:
    """Up to ``limit`` known clients (optionally filtered): the points of the scatter plot."""
    return list(get_api(url).iter_clients(dict(filters), limit=limit))


def rescore(url: str, application: dict[str, Any]) -> Score:
    """Not cached: the what-if answer must always come from the model, never from memory."""
    return get_api(url).score(application)


def guarded(action: Callable[[], T], context: str) -> T | None:
    """Run an API call; on failure show the officer a readable message and return ``None``.

    Each section degrades on its own: if the explanation endpoint fails, the decision stays on
    screen with a message where the reasons would be.
    """
    try:
        return action()
    except ApiError as exc:
        st.error(f"{context}: {exc.message}", icon=":material/error:")
        return None


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class InfoRow:
    """One line of the client sheet, every value already in words."""

    code: str
    label: str
    value: str
    median: str
    position: str
    topic: str


def open_client(sk_id_curr: int) -> None:
    """Callback of "Open this client": fills the id box (bound to the ``?client=`` URL)."""
    st.session_state["client"] = str(sk_id_curr)
    st.session_state.pop("what_if", None)


def band_options(rows: list[ClientRow], attr: str) -> list[str]:
    """Band ids seen among the known clients, from the lowest band to the highest.

    The API lists no bands of its own (see the report on API gaps), so the filter offers the
    bands that occur in the client list.
    """
    return sorted({str(getattr(r, attr)) for r in rows if getattr(r, attr)}, key=band_sort_key)


def band_or_any(band_id: str) -> str:
    return ANY if band_id == ANY else band_label(band_id)


def decision_text(decision: str) -> str:
    return f"{decision_icon(decision)} {DECISION_WORDS.get(decision, decision)}"


def row_record(row: ClientRow) -> dict[str, str]:
    """One line of the search results, every value as text (the table is read aloud)."""
    return {
        "Client id": str(row.sk_id_curr),
        "Contract": row.contract_type or "—",
        "Gender": GENDERS.get(row.gender or "", "not stated"),
        "Age": f"{row.age_years:.0f}" if row.age_years is not None else "—",
        "Annual income": format_amount(row.income),
        "Credit": format_amount(row.credit),
        "Estimated risk": format_percent(row.probability),
        "Decision": decision_text(row.decision),
    }


def scatter_value(row: ClientRow, field: str) -> float | None:
    if field == "credit_to_income":
        if row.credit is None or not row.income:
            return None
        return row.credit / row.income
    if field == "probability":
        return row.probability
    value = getattr(row, field)
    return None if value is None else float(value)


# --------------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------------
def render_finder(url: str) -> int | None:
    """Section 1: find a client by id, or filter the known clients and open one."""
    st.header("1. Find a client")
    by_id, by_criteria = st.tabs(["By client id", "By criteria"])
    with by_id:
        st.text_input(
            "Client id (SK_ID_CURR)",
            key="client",
            bind="query-params",
            placeholder="for example 100001",
            help="The number on the loan application. Press Enter to open the client.",
        )
        st.button("Show client", type="primary")
    with by_criteria:
        render_filters(url)
    raw = str(st.session_state.get("client") or "")
    if not raw.strip():
        return None
    sk_id_curr = parse_client_id(raw)
    if sk_id_curr is None:
        st.warning(
            f"“{raw}” is not a client id: ids are whole numbers such as 100001.",
            icon=":material/warning:",
        )
    return sk_id_curr


def render_filters(url: str) -> None:
    """Filter clients by contract type, income band, age band, decision and gender."""
    sample = guarded(lambda: fetch_all_clients(url, SCATTER_LIMIT), "Client list") or []
    with st.form("filters", border=False):
        cols = st.columns(5)
        contract = cols[0].selectbox("Contract type", [ANY, *CONTRACT_TYPES])
        income = cols[1].selectbox(
            "Income band", [ANY, *band_options(sample, "income_band")], format_func=band_or_any
        )
        age = cols[2].selectbox(
            "Age band", [ANY, *band_options(sample, "age_band")], format_func=band_or_any
        )
        decision = cols[3].selectbox("Decision", [ANY, "approved", "refused"])
        gender = cols[4].selectbox(
            "Gender", [ANY, *GENDERS], format_func=lambda g: GENDERS.get(g, g)
        )
        page = st.number_input("Results page", min_value=1, value=1, step=1)
        st.form_submit_button("Search clients", type="primary")
    chosen = {
        "contract_type": contract,
        "income_band": income,
        "age_band": age,
        "decision": decision,
        "gender": gender,
    }
    filters = tuple(sorted((k, v) for k, v in chosen.items() if v != ANY))
    result = guarded(lambda: fetch_clients(url, filters, int(page)), "Client search")
    if result is None:
        return
    if not result.items:
        st.info("No client matches these criteria. Widen a filter and search again.")
        return
    first = (result.page - 1) * result.page_size + 1
    st.markdown(
        f"**{result.total:,} matching clients** — showing {first:,} to "
        f"{first + len(result.items) - 1:,}."
    )
    st.table(
        pd.DataFrame([row_record(r) for r in result.items]),
        hide_index=True,
        alt="Clients matching the criteria, with their estimated risk and decision",
    )
    ids = [r.sk_id_curr for r in result.items]
    by_id = {r.sk_id_curr: r for r in result.items}
    choice = st.selectbox(
        "Client to open",
        ids,
        format_func=lambda i: (
            f"{i} — {by_id[i].contract_type or ''}, {decision_text(by_id[i].decision)} "
            f"({format_percent(by_id[i].probability)})"
        ),
    )
    st.button("Open this client", on_click=open_client, args=(choice,), type="primary")


def render_decision(detail: ClientDetail) -> None:
    """Section 2: the decision sentence, then the gauge against the limit."""
    score = detail.score
    sentence = decision_sentence(score.probability, score.threshold, score.decision)
    st.header(f"2. Decision for client {detail.sk_id_curr}")
    with st.container(border=True):
        st.subheader(f"{decision_icon(score.decision)} {sentence}", anchor="decision")
        left, right = st.columns([3, 1])
        with left:
            top = gauge_domain_max(score.probability, score.threshold)
            chart = charts.gauge_chart(score.probability, score.threshold, top, sentence)
            st.altair_chart(chart, width="stretch", alt=f"Risk gauge. {sentence}")
            st.caption(
                "Risk gauge: the black triangle is this client's estimated risk of default, "
                "the dashed line our approval limit. Left of the line the loan is approved, "
                f"at or right of it refused. The scale runs from 0 to {format_percent(top)}."
            )
        with right:
            st.metric("Estimated risk", format_percent(score.probability))
            st.metric("Approval limit", format_percent(score.threshold))
            st.caption(f"Model version {score.model_version or 'unknown'}")


def reason_line(feature: str, api_label: str, value: Any, contribution: float) -> str:
    """One line of the reason lists: arrow, short label, value in words, direction in words."""
    label = feature_label(feature, api_label)
    return (
        f"{direction_marker(contribution)} {reason_sentence(label, feature, value, contribution)}"
    )


def render_reasons(detail: ClientDetail, explanation: Explanation | None) -> None:
    """Section 3: the top reasons in plain language (direction in words), then a chart."""
    st.header("3. Main reasons")
    reasons = detail.score.reasons
    if reasons:
        st.markdown("**What raises this client's risk most** (strongest first):")
        st.markdown(
            "\n".join(
                f"{i}. {reason_line(r.feature, r.label, r.value, r.contribution)}"
                for i, r in enumerate(reasons, start=1)
            )
        )
    else:
        st.markdown("No information raises this client's risk above the average client.")
    if explanation is None:
        return
    helping = sorted(
        (c for c in explanation.contributions if c.contribution < 0), key=lambda c: c.contribution
    )[:3]
    if helping:
        st.markdown("**What works in the client's favour:**")
        st.markdown(
            "\n".join(
                f"- {reason_line(c.feature, c.label, c.value, c.contribution)}" for c in helping
            )
        )
    strongest = sorted(explanation.contributions, key=lambda c: -abs(c.contribution))[:8]
    if not strongest:
        return
    bars = [
        charts.ContributionBar(
            feature_label(c.feature, c.label),
            format_feature_value(c.feature, c.value),
            c.contribution,
        )
        for c in strongest
    ]
    description = (
        "Bar chart of the 8 pieces of information that weigh most on this client's score. "
        "Bars to the right raise the risk, bars to the left lower it."
    )
    st.altair_chart(charts.contributions_chart(bars, description), width="stretch", alt=description)
    st.caption(
        "How much each piece of information moves the score. Each bar is labelled "
        "“raises risk” or “lowers risk”; the lists above say the same in words."
    )
    with st.expander("The same as a table"):
        st.table(
            pd.DataFrame(
                {
                    "Information": [feature_label(c.feature, c.label) for c in strongest],
                    "Client's value": [format_feature_value(c.feature, c.value) for c in strongest],
                    "Effect": [
                        f"{direction_marker(c.contribution)} "
                        f"{direction_of(c.contribution)} the risk"
                        for c in strongest
                    ],
                    "Size (log-odds)": [f"{c.contribution:+.2f}" for c in strongest],
                }
            ),
            hide_index=True,
        )


def info_rows(detail: ClientDetail) -> list[InfoRow]:
    """The client sheet: the readable profile, then the key model features with their median
    and position among all known clients (the API returns the most important ones)."""
    with_stats = {f.feature for f in detail.features}
    rows = [
        InfoRow(
            code=key,
            label=label,
            value=format_profile_value(key, detail.info.get(key)),
            median="—",
            position="—",
            topic=PROFILE_TOPICS.get(key, "Other"),
        )
        for key, label in PROFILE_LABELS.items()
        if key in detail.info and PROFILE_COLUMNS.get(key) not in with_stats
    ]
    rows += [
        InfoRow(
            code=f.feature,
            label=feature_label(f.feature, f.label),
            value=format_feature_value(f.feature, f.value),
            median=median_text(f),
            position=position_text(f),
            topic=info_group(f.feature),
        )
        for f in detail.features
    ]
    return rows


def render_info(detail: ClientDetail) -> None:
    """Section 4: the client's information, filterable by topic and by text."""
    st.header("4. Client information")
    rows = info_rows(detail)
    if not rows:
        st.info("The scoring service holds no descriptive information for this client.")
        return
    present = [g for g in INFO_GROUPS if any(r.topic == g for r in rows)]
    cols = st.columns([2, 3])
    query = cols[0].text_input(
        "Filter the information",
        placeholder="e.g. income, family, AMT_",
        help="Matches the label, the code or the value, ignoring case.",
    )
    topics = cols[1].multiselect("Topics", present, default=[], placeholder="All topics")
    only_filled = st.checkbox("Hide information the client did not provide", value=True)
    by_code = {r.code: r for r in rows if not topics or r.topic in topics}
    shown = filter_info_rows(
        {code: (r.label, r.value) for code, r in by_code.items()}, query, only_filled
    )
    st.caption(
        f"{len(shown)} of {len(rows)} pieces of information shown. Median and position compare "
        "the client with all known clients; “higher than 73 % of clients” means 73 % have a "
        "lower value."
    )
    if shown:
        st.table(
            pd.DataFrame(
                {
                    "Information": [by_code[c].label for c in shown],
                    "Client's value": [by_code[c].value for c in shown],
                    "Median of all clients": [by_code[c].median for c in shown],
                    "Position among all clients": [by_code[c].position for c in shown],
                    "Topic": [by_code[c].topic for c in shown],
                }
            ),
            hide_index=True,
        )


def median_text(feature: FeatureValue) -> str:
    """The population median in words; "—" where a median means nothing (text, flags)."""
    if feature.kind == "categorical" or is_missing(feature.population_median):
        return "—"
    return format_feature_value(feature.feature, feature.population_median)


def position_text(feature: FeatureValue) -> str:
    """ "higher than 73 % of clients"; "—" for text values and yes/no flags (ties dominate)."""
    if feature.kind == "categorical" or is_yes_no(feature.feature):
        return "—"
    return format_share(feature.population_percentile)


def render_distribution(
    url: str, detail: ClientDetail, features: list[FeatureInfo], group: str, group_name: str
) -> None:
    """A histogram of the chosen feature in the chosen group, with the client marked."""
    names = [f.name for f in features if f.kind != "categorical"]
    labels = {f.name: feature_label(f.name, f.label) for f in features}
    if not names:
        st.info("The scoring service lists no numeric information to compare.")
        return
    default = next((r.feature for r in detail.score.reasons if r.feature in names), names[0])
    feature = st.selectbox(
        "Information to compare",
        names,
        index=names.index(default),
        format_func=lambda n: labels.get(n, n),
        help="Starts on the strongest reason for this client's score.",
    )
    population = guarded(
        lambda: fetch_population(url, feature, group, detail.sk_id_curr), "Distribution"
    )
    if population is None:
        return
    value = population.client_value
    numeric = None if is_missing(value) else float(value)
    share = display_share(feature, population.client_percentile)
    if share is None and numeric is not None:
        edges, counts = display_histogram(feature, population.edges, population.counts)
        share = percentile_from_histogram(edges, counts, to_display(feature, numeric))
    median = population.quantiles.get("p50")
    label = labels.get(feature, population.label)
    summary = position_sentence(label, feature, value, share, group_name, median)
    description = f"Histogram of {label} among {group_name}, this client marked."
    st.altair_chart(
        charts.distribution_chart(
            feature,
            label,
            population.edges,
            population.counts,
            numeric,
            group_name,
            description,
        ),
        width="stretch",
        alt=f"{description} {summary}",
    )
    st.caption(
        f"Distribution of {label} among {group_name} ({population.n:,} clients with a value); "
        "the dashed black line marks this client. Scroll to zoom, drag to pan."
    )
    st.markdown(f"**{summary}**")
    if population.quantiles:
        with st.expander("Key figures of the group"):
            st.table(
                pd.DataFrame(
                    quantile_rows(feature, population.quantiles), columns=["Figure", "Value"]
                ),
                hide_index=True,
            )


def render_scatter(
    detail: ClientDetail, rows: list[ClientRow], me: ClientRow | None, group_name: str
) -> None:
    """Two chosen fields against each other, every client's decision shown by shape."""
    fields = list(SCATTER_FIELDS)
    cols = st.columns(2)
    x = cols[0].selectbox(
        "Horizontal axis", fields, index=0, format_func=SCATTER_FIELDS.__getitem__
    )
    y = cols[1].selectbox("Vertical axis", fields, index=1, format_func=SCATTER_FIELDS.__getitem__)
    if x == y:
        st.info("Choose two different fields to compare.")
        return
    records = []
    for r in rows:
        xv, yv = scatter_value(r, x), scatter_value(r, y)
        if xv is not None and yv is not None and r.sk_id_curr != detail.sk_id_curr:
            records.append({x: xv, y: yv, "decision": r.decision, "sk_id_curr": r.sk_id_curr})
    points = pd.DataFrame(records, columns=[x, y, "decision", "sk_id_curr"])
    client_point = None
    if me is not None:
        mx, my = scatter_value(me, x), scatter_value(me, y)
        if mx is not None and my is not None:
            client_point = {x: mx, y: my}
    counts = decision_counts_sentence(points["decision"].tolist(), group_name)
    description = (
        f"Scatter plot of {SCATTER_FIELDS[x]} against {SCATTER_FIELDS[y]} for {group_name}: "
        "circles are approved clients, crosses refused clients, the black diamond this client."
    )
    st.altair_chart(
        charts.scatter_chart(
            points, x, y, SCATTER_FIELDS[x], SCATTER_FIELDS[y], client_point, description
        ),
        width="stretch",
        alt=f"{description} {counts}.",
    )
    st.caption(
        "Each mark is a client: circle = approved, cross = refused; the black diamond labelled "
        "“This client” is the client in front of you. Scroll to zoom, drag to pan, hover for "
        "details."
    )
    st.markdown(f"**{counts}.**")
    if not points.empty:
        with st.expander("Summary table by decision"):
            summary = points.groupby("decision")[[x, y]].median()
            counts_by = points.groupby("decision").size()
            table = pd.DataFrame(
                {
                    "Decision": [decision_text(str(d)) for d in summary.index],
                    "Clients": [f"{int(counts_by[d]):,}" for d in summary.index],
                    f"Median {SCATTER_FIELDS[x].lower()}": [
                        scatter_text(x, float(v)) for v in summary[x]
                    ],
                    f"Median {SCATTER_FIELDS[y].lower()}": [
                        scatter_text(y, float(v)) for v in summary[y]
                    ],
                }
            )
            if client_point is not None:
                table.loc[len(table)] = [
                    "This client",
                    "1",
                    scatter_text(x, client_point[x]),
                    scatter_text(y, client_point[y]),
                ]
            st.table(table, hide_index=True)


def scatter_text(field: str, value: float) -> str:
    if field == "probability":
        return format_percent(value)
    if field in {"income", "credit"}:
        return format_amount(value)
    return format_number(round(value, 2))


def render_comparisons(
    url: str, detail: ClientDetail, features: list[FeatureInfo], me: ClientRow | None
) -> None:
    """Section 5: the client against all clients or against similar clients."""
    st.header("5. Compare with other clients")
    choice = st.radio(
        "Compare with",
        ["All clients", "Similar clients"],
        horizontal=True,
        help="Similar clients share the age band, income band and contract type.",
    )
    similar: SimilarGroup | None = None
    if choice == "Similar clients":
        similar = guarded(lambda: fetch_similar(url, detail.sk_id_curr), "Similar clients")
        if similar is None:
            return
        words = similar.description or ", ".join(
            f"{k.replace('_', ' ')} {band_label(str(v)) if k.endswith('band') else v}"
            for k, v in similar.criteria.items()
        )
        st.markdown(f"**Similar clients:** {words} — {similar.count:,} clients.")
    group = "similar" if similar is not None else "all"
    group_name = "similar clients" if similar is not None else "all clients"
    st.subheader("One piece of information")
    render_distribution(url, detail, features, group, group_name)
    st.subheader("Two pieces of information together")
    # The scatter needs every member of the group, not the few the similar endpoint lists:
    # the group's criteria are filters of the client list.
    filters = () if similar is None else tuple(sorted(similar.criteria.items()))
    rows = guarded(lambda: fetch_all_clients(url, SCATTER_LIMIT, filters), "Client list") or []
    render_scatter(detail, rows, me, group_name)


def client_row_of(detail: ClientDetail) -> ClientRow:
    """This client as a scatter point, from the readable profile the API returned."""
    info = detail.info
    return ClientRow(
        sk_id_curr=detail.sk_id_curr,
        contract_type=info.get("contract_type"),
        gender=info.get("gender"),
        age_years=info_number(info, "age_years"),
        age_band=info.get("age_band"),
        income=info_number(info, "income"),
        income_band=info.get("income_band"),
        credit=info_number(info, "credit"),
        probability=detail.score.probability,
        decision=detail.score.decision,
    )


def render_what_if(url: str, detail: ClientDetail, explanation: Explanation | None) -> None:
    """Section 6: change the income or the credit amount and rescore through the API."""
    st.header("6. What if?")
    income = info_number(detail.info, "income")
    credit = info_number(detail.info, "credit")
    if income is None or credit is None or credit <= 0:
        st.info("This client's income or credit amount is unknown, so no what-if is possible.")
        return
    st.markdown(
        "Try another annual income or credit amount. The application is scored again by the "
        "same model; nothing is saved."
    )
    with st.form("what_if_form"):
        cols = st.columns(2)
        new_income = cols[0].number_input(
            "Annual income", min_value=1.0, value=income, step=5_000.0, format="%.0f"
        )
        new_credit = cols[1].number_input(
            "Credit amount", min_value=1.0, value=credit, step=10_000.0, format="%.0f"
        )
        scale_annuity = st.checkbox(
            "Scale the annuity with the credit amount (same duration and rate)", value=True
        )
        submitted = st.form_submit_button("Score again with these amounts", type="primary")
    if submitted:
        fields = guarded(lambda: fetch_application_fields(url), "What-if")
        if fields is None:
            return
        before, after_app = what_if_application(
            detail, explanation, fields, float(new_income), float(new_credit), scale_annuity
        )
        with st.spinner("Scoring…"):
            baseline = guarded(lambda: rescore(url, before), "What-if")
            after = guarded(lambda: rescore(url, after_app), "What-if")
        if baseline is not None and after is not None:
            st.session_state["what_if"] = {
                "client": detail.sk_id_curr,
                "baseline": baseline,
                "after": after,
                "income": float(new_income),
                "credit": float(new_credit),
            }
    result = st.session_state.get("what_if")
    if not result or result["client"] != detail.sk_id_curr:
        return
    baseline, after = result["baseline"], result["after"]
    with st.container(border=True, key="what-if-result"):
        st.subheader(
            f"{decision_icon(after.decision)} "
            + decision_sentence(after.probability, after.threshold, after.decision),
            anchor="what-if-result",
        )
        st.markdown(
            f"With an annual income of {format_amount(result['income'])} and a credit of "
            f"{format_amount(result['credit'])}: "
            f"{risk_change_sentence(baseline.probability, after.probability)}."
        )
        if abs(baseline.probability - detail.score.probability) > 0.005:
            st.caption(
                "The what-if compares two scores of the application form alone "
                f"({format_percent(baseline.probability)} before the change); the official "
                f"score above ({format_percent(detail.score.probability)}) also uses the "
                "client's credit history."
            )


# --------------------------------------------------------------------------------------------
# Page
# --------------------------------------------------------------------------------------------
def main() -> None:
    st.set_page_config(page_title=PAGE_TITLE, layout="wide")
    url = api_url_from_env()
    st.title("Credit decision explainer")
    st.markdown(
        "Explain a loan decision to a client: the estimated risk against our limit, the main "
        "reasons, and how the client compares with others."
    )
    model = guarded(lambda: fetch_model(url), "Scoring service")
    if model is None:
        st.stop()
    assert model is not None
    with st.container(key="section-find"):
        sk_id_curr = render_finder(url)
    if sk_id_curr is None:
        st.info(
            "Enter a client id above, or search by criteria, to see the decision and its reasons.",
            icon=":material/search:",
        )
        return
    try:
        detail = fetch_client(url, sk_id_curr)
    except ClientNotFoundError:
        st.warning(
            f"No client with id {sk_id_curr} in our records. Check the number or search by "
            "criteria.",
            icon=":material/person_search:",
        )
        return
    except ApiError as exc:
        st.error(f"Client {sk_id_curr}: {exc.message}", icon=":material/error:")
        return
    # Keyed containers give each section a stable CSS class (st-key-section-...): the browser
    # tests screenshot and check sections through it.
    with st.container(key="section-decision"):
        render_decision(detail)
    with st.container(key="section-reasons"):
        explanation = guarded(lambda: fetch_explanation(url, sk_id_curr), "Reasons")
        render_reasons(detail, explanation)
    features = guarded(lambda: fetch_features(url), "Feature list") or []
    with st.container(key="section-info"):
        render_info(detail)
    with st.container(key="section-compare"):
        render_comparisons(url, detail, features, client_row_of(detail))
    with st.container(key="section-what-if"):
        render_what_if(url, detail, explanation)
    st.divider()
    st.caption(
        f"Model {model.version}, approval limit {format_percent(model.threshold)}. "
        "Scores are estimates to support the conversation with the client, not a verdict."
    )


if __name__ == "__main__":
    main()
