"""What the endpoints do, independent of HTTP: score, explain, look up, compare, record.

One :class:`ScoringService` per worker process, built once in the app's lifespan from a loaded
bundle. Handlers call it with already-validated inputs and get response structs back; every
score it gives is recorded as a :class:`scoring.events.PredictionEvent`.

Reason codes (docs/api.md): a refusal carries up to 4 features that pushed the applicant
toward refusal (positive log-odds contribution), strongest first; an approval carries none
unless the caller asks ``reasons=always`` (then they read as "top risk factors"). A feature that
lowers the risk is never given as a reason.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol

import msgspec
import numpy as np

from api import bands
from api.attribution import PathAttribution, treeshap_is_affordable
from api.errors import invalid, not_found
from api.features import BuilderFeatures, FeatureProblem, RawColumnFeatures
from api.observability import Metrics
from api.schemas import (
    Attribution,
    BatchItem,
    BatchScoreResponse,
    ClientInfo,
    ClientPage,
    ClientResponse,
    ClientRow,
    ClientScore,
    Contribution,
    ExplanationResponse,
    FeatureInfo,
    FeatureList,
    FeatureSummary,
    GroupCriteria,
    GroupFeature,
    Histogram,
    ModelResponse,
    PopulationResponse,
    ReasonCode,
    ScoreResponse,
    SimilarResponse,
    Value,
)
from api.settings import Settings
from api.store import ClientStore, FeatureStats, GroupKey
from scoring.bundle import Bundle, Decision
from scoring.events import PredictionEvent
from scoring.schema import APPLICATION_TEST, DAYS_SENTINEL, HISTORY_TABLES, table_schema

log = logging.getLogger(__name__)

ReasonsMode = Literal["auto", "always", "never"]
MAX_REASONS = 4
SUMMARY_FEATURES = 10
SCORE_ROUTE = "/v1/score"
BATCH_ROUTE = "/v1/score/batch"
CLIENT_ROUTE = "/v1/clients/{sk_id_curr}"


class EventSink(Protocol):
    """Where prediction events go (:class:`scoring.events.EventStore` in production)."""

    def record(self, event: PredictionEvent) -> None: ...

    def record_many(self, events: Sequence[PredictionEvent]) -> None: ...

    def close(self) -> None: ...


class NullEventSink:
    """Records nothing (``EVENTS_URL=none``): for experiments that must not touch a store."""

    def record(self, event: PredictionEvent) -> None:
        return None

    def record_many(self, events: Sequence[PredictionEvent]) -> None:
        return None

    def close(self) -> None:
        return None


def _f(v: Any) -> float | None:
    """A JSON-safe float (``None`` for NaN/inf/missing)."""
    if v is None:
        return None
    x = float(v)
    return x if math.isfinite(x) else None


def _value(v: Any) -> Value:
    if v is None or isinstance(v, str):
        return v
    return _f(v)


def event_feature_names(bundle: Bundle) -> tuple[str, ...]:
    """The features each prediction event records: those the model uses, plus the raw columns.

    "Used" = split on by at least one tree (a linear model uses them all): a feature no tree
    splits on cannot move a score, so its drift cannot matter to this model. The raw
    application columns among the features are kept too: they are the monitor's key columns
    (conf/drift ``raw_columns``) and what a person reads. Measured on the pipeline's model:
    305 of 952 features, events 3× smaller, which matters at thousands of scores per second
    (about 23 KB of JSON per event with all 952).
    """
    names = bundle.feature_names
    if bundle.booster is None:
        return tuple(names)
    splits = bundle.booster.feature_importance(importance_type="split")
    raw = set(table_schema(APPLICATION_TEST).column_names)
    return tuple(n for n, k in zip(names, splits, strict=True) if k > 0 or n in raw)


class ScoringService:
    """Scoring, explanations and known-client queries for one loaded bundle."""

    def __init__(
        self,
        bundle: Bundle,
        store: ClientStore,
        features: RawColumnFeatures | BuilderFeatures,
        events: EventSink,
        metrics: Metrics,
        settings: Settings,
    ) -> None:
        self.bundle = bundle
        self.store = store
        self.features = features
        self.events = events
        self.metrics = metrics
        self.settings = settings
        self.path: PathAttribution | None = None
        default: Attribution = "linear"
        if bundle.booster is not None:
            # one OpenMP thread per call: the workers already occupy every core
            bundle.predict_params = {**bundle.predict_params, "num_threads": 1}
            self.path = PathAttribution.from_booster(bundle.booster)
            choice = settings.reason_attribution
            if choice == "auto":
                choice = "treeshap" if treeshap_is_affordable(self.path) else "path"
            default = "path" if choice == "path" else "treeshap"
        #: the attribution of /v1/score reason codes when the request does not choose
        self.default_attribution: Attribution = default
        #: exact TreeSHAP takes milliseconds per row for this model (see ``slow_reasons``)
        self.treeshap_is_slow = self.path is not None and not treeshap_is_affordable(self.path)
        self.feature_index = {f: j for j, f in enumerate(bundle.feature_names)}
        self.event_features = event_feature_names(bundle)
        top = [f for f in bundle.meta.get("top_features", []) if f in self.feature_index]
        self.summary_features = (top or list(bundle.feature_names))[:SUMMARY_FEATURES]
        self.importance_rank = {f: i + 1 for i, f in enumerate(top)}

    # -- basics ---------------------------------------------------------------------------------
    @property
    def model_version(self) -> str:
        return self.bundle.model_version

    def attribution(self, requested: str | None) -> Attribution:
        """The method used for reason codes: linear models are exact by construction."""
        if self.bundle.model_kind == "linear":
            return "linear"
        if requested is None:
            return self.default_attribution
        return "path" if requested == "path" and self.path is not None else "treeshap"

    def slow_reasons(self, reasons: ReasonsMode, attribution: str | None) -> bool:
        """Whether reason codes may cost milliseconds (exact TreeSHAP on a large model).

        The handlers then run the request in a worker thread (LightGBM releases the GIL), so
        the event loop keeps serving; anything cheaper runs inline, as a thread hop costs more
        than it saves (STACK_NOTES: ``sync_to_thread`` halves throughput).
        """
        return (
            reasons != "never"
            and self.treeshap_is_slow
            and self.attribution(attribution) == "treeshap"
        )

    def contributions(self, X: np.ndarray, method: Attribution) -> np.ndarray:
        """Log-odds contributions (last column = bias) with the chosen method."""
        if method == "path" and self.path is not None:
            leaves = self.bundle.booster_predict(X, "leaf")
            return self.path.from_leaves(leaves)
        return self.bundle.contributions(X)

    def _reasons(self, x_row: np.ndarray, contrib_row: np.ndarray) -> list[ReasonCode]:
        return [
            ReasonCode(
                feature=r.feature,
                label=r.label,
                value=_value(r.value),
                contribution=float(r.contribution),
            )
            for r in self.bundle.reason_codes(x_row, contrib_row, k=MAX_REASONS)
        ]

    def _logged(self, feats: Mapping[str, Any]) -> dict[str, Any]:
        """The features an event records (see :func:`event_feature_names`)."""
        get = feats.get
        return {name: get(name) for name in self.event_features}

    def _scored_event(
        self,
        endpoint: str,
        request_id: str,
        features: dict[str, Any],
        p: float,
        decision: Decision,
        latency_ms: float,
        sk_id_curr: int | None,
    ) -> PredictionEvent:
        """The event of one answered score; counts the decision in the metrics."""
        self.metrics.observe_decision(endpoint, decision, p)
        return PredictionEvent(
            request_id=request_id,
            model_version=self.bundle.model_version,
            endpoint=endpoint,
            features=features,
            probability=p,
            decision=decision,
            threshold=self.bundle.threshold,
            latency_ms=latency_ms,
            sk_id_curr=sk_id_curr,
        )

    def _wants_reasons(self, mode: ReasonsMode, refused: bool) -> bool:
        return mode == "always" or (mode == "auto" and refused)

    def _record(self, events: Sequence[PredictionEvent]) -> None:
        """Record events; a store failure is logged and counted, the score still answered."""
        try:
            if len(events) == 1:
                self.events.record(events[0])
            else:
                self.events.record_many(events)
        except Exception:
            self.metrics.events_failed.inc(len(events))
            log.exception("could not record %d prediction event(s)", len(events))

    def record_error(
        self,
        endpoint: str,
        request_id: str,
        t0: float | None,
        status_code: int,
        error: str,
        sk_id_curr: int | None = None,
    ) -> None:
        """A failed scoring request also leaves an event (the monitor's error rate)."""
        latency = (time.perf_counter() - t0) * 1e3 if t0 is not None else 0.0
        self._record(
            [
                PredictionEvent(
                    request_id=request_id,
                    model_version=self.model_version,
                    endpoint=endpoint,
                    features={},
                    probability=None,
                    decision=None,
                    threshold=None,
                    latency_ms=latency,
                    status_code=status_code,
                    sk_id_curr=sk_id_curr,
                    error=error[:1000],
                )
            ]
        )

    # -- raw applications -----------------------------------------------------------------------
    @staticmethod
    def _check_application(app: Mapping[str, Any], where: str) -> None:
        """Rules the per-field bounds cannot express."""
        days = app.get("DAYS_EMPLOYED")
        if days is not None and 0 < days < DAYS_SENTINEL:
            raise invalid(
                f"{where}.DAYS_EMPLOYED",
                f"must be <= 0 (days before the application) or {DAYS_SENTINEL} "
                f"(Kaggle's pensioner/unemployed sentinel), got {days}",
            )

    def _features_of(
        self, request: Any, where: str
    ) -> tuple[dict[str, Any], int | None, np.ndarray]:
        """Features, SK_ID_CURR and model row of one decoded ``ScoreRequest`` (or a 422)."""
        app: dict[str, Any] = msgspec.structs.asdict(request.application)
        self._check_application(app, f"{where}application")
        history: dict[str, list[dict[str, Any]]] | None = None
        if request.history is not None:
            history = {}
            for table in HISTORY_TABLES:
                records = getattr(request.history, table)
                if records:
                    history[table] = msgspec.to_builtins(records)
            history = history or None
        try:
            feats = self.features.compute(app, history)
        except FeatureProblem as exc:
            raise invalid(f"{where}{exc.field}", exc.problem) from None
        sk_id = app.get("SK_ID_CURR")
        x = self.features.encode(feats, with_history=history is not None)
        return feats, None if sk_id is None else int(sk_id), x

    def score_application(
        self,
        request: Any,
        request_id: str,
        t0: float,
        reasons: ReasonsMode,
        attribution: str | None,
    ) -> ScoreResponse:
        feats, sk_id, x = self._features_of(request, "")
        b = self.bundle
        p = float(b.predict_proba(x)[0])
        decision = b.decide(p)
        method: Attribution | None = None
        codes: list[ReasonCode] = []
        if self._wants_reasons(reasons, decision == "refused"):
            method = self.attribution(attribution)
            codes = self._reasons(x[0], self.contributions(x, method)[0])
        self._record(
            [
                self._scored_event(
                    SCORE_ROUTE, request_id, self._logged(feats), p, decision,
                    (time.perf_counter() - t0) * 1e3, sk_id,
                )
            ]
        )  # fmt: skip
        return ScoreResponse(
            request_id=request_id,
            sk_id_curr=sk_id,
            probability=p,
            threshold=b.threshold,
            decision=decision,
            reason_codes=codes,
            attribution=method,
            model_version=b.model_version,
        )

    def score_batch(
        self,
        request: Any,
        request_id: str,
        t0: float,
        reasons: ReasonsMode,
        attribution: str | None,
    ) -> BatchScoreResponse:
        """Score many applications with one booster call (features one by one, same code)."""
        b = self.bundle
        items = request.applications
        feats: list[dict[str, Any]] = []
        ids: list[int | None] = []
        rows_x: list[np.ndarray] = []
        for i, item in enumerate(items):
            f, sk, x = self._features_of(item, f"applications[{i}].")
            feats.append(f)
            ids.append(sk)
            rows_x.append(x)
        X = np.vstack(rows_x)
        P = b.predict_proba(X)
        refused = b.threshold <= P
        want = np.array([self._wants_reasons(reasons, bool(r)) for r in refused])
        method: Attribution | None = self.attribution(attribution) if want.any() else None
        contrib: dict[int, np.ndarray] = {}
        if method is not None:
            rows = np.flatnonzero(want)
            for k, c in zip(rows, self.contributions(X[rows], method), strict=True):
                contrib[int(k)] = c
        results: list[BatchItem] = []
        latency = (time.perf_counter() - t0) * 1e3
        events: list[PredictionEvent] = []
        for i, f in enumerate(feats):
            p = float(P[i])
            decision = b.decide(p)
            codes = self._reasons(X[i], contrib[i]) if i in contrib else []
            results.append(
                BatchItem(
                    index=i, sk_id_curr=ids[i], probability=p, decision=decision, reason_codes=codes
                )
            )
            events.append(
                self._scored_event(
                    BATCH_ROUTE, request_id, self._logged(f), p, decision, latency, ids[i]
                )
            )
        self._record(events)
        return BatchScoreResponse(
            request_id=request_id,
            model_version=b.model_version,
            threshold=b.threshold,
            attribution=method,
            results=results,
        )

    # -- known clients --------------------------------------------------------------------------
    def _position(self, sk_id_curr: int) -> int:
        pos = self.store.position(sk_id_curr)
        if pos is None:
            raise not_found(f"unknown client {sk_id_curr}", field="sk_id_curr")
        return pos

    def _row(self, pos: int) -> ClientRow:
        s = self.store
        return ClientRow(
            sk_id_curr=int(s.ids[pos]),
            contract_type=s.text["contract_type"][pos],
            gender=s.text["gender"][pos],
            age_years=_f(s.age_years[pos]),
            age_band=s.age_band[pos],
            income=_f(s.numbers["income"][pos]),
            income_band=s.income_band[pos],
            credit=_f(s.numbers["credit"][pos]),
            probability=float(s.proba[pos]),
            decision="refused" if s.refused[pos] else "approved",
        )

    def _info(self, pos: int) -> ClientInfo:
        s = self.store
        children = s.numbers["children"][pos]
        return ClientInfo(
            contract_type=s.text["contract_type"][pos],
            gender=s.text["gender"][pos],
            age_years=_f(s.age_years[pos]),
            age_band=s.age_band[pos],
            income=_f(s.numbers["income"][pos]),
            income_band=s.income_band[pos],
            credit=_f(s.numbers["credit"][pos]),
            annuity=_f(s.numbers["annuity"][pos]),
            goods_price=_f(s.numbers["goods_price"][pos]),
            income_type=s.text["income_type"][pos],
            education=s.text["education"][pos],
            family_status=s.text["family_status"][pos],
            housing_type=s.text["housing_type"][pos],
            occupation=s.text["occupation"][pos],
            organization=s.text["organization"][pos],
            children=None if math.isnan(children) else int(children),
            years_employed=_f(s.years_employed[pos]),
            owns_car=s.text["owns_car"][pos],
            owns_realty=s.text["owns_realty"][pos],
        )

    def _kind(self, name: str) -> Literal["numeric", "categorical"]:
        return "categorical" if name in self.bundle.categorical_levels else "numeric"

    def client(
        self,
        sk_id_curr: int,
        request_id: str,
        t0: float,
        reasons: ReasonsMode,
        attribution: str | None,
    ) -> ClientResponse:
        pos = self._position(sk_id_curr)
        s, b = self.store, self.bundle
        p = float(s.proba[pos])
        decision = b.decide(p)
        x = s.X[pos : pos + 1]
        method: Attribution | None = None
        codes: list[ReasonCode] = []
        if self._wants_reasons(reasons, decision == "refused"):
            # exact by default: a person reads these next to the (exact) explanation endpoint,
            # and a lookup is not on the high-throughput path
            method = self.attribution(attribution or "treeshap")
            codes = self._reasons(x[0], self.contributions(x, method)[0])
        summary: list[FeatureSummary] = []
        for name in self.summary_features:
            j = self.feature_index[name]
            v = float(s.X[pos, j])
            kind = self._kind(name)
            summary.append(
                FeatureSummary(
                    feature=name,
                    label=b.labels.get(name, name),
                    kind=kind,
                    value=_value(b.decode_value(name, v)),
                    population_median=_value(s.median_value(j)),
                    population_percentile=s.stats(j).percentile(v) if kind == "numeric" else None,
                )
            )
        self._record(
            [
                self._scored_event(
                    CLIENT_ROUTE, request_id, s.feature_record(pos, self.event_features), p,
                    decision, (time.perf_counter() - t0) * 1e3, sk_id_curr,
                )
            ]
        )  # fmt: skip
        return ClientResponse(
            request_id=request_id,
            sk_id_curr=sk_id_curr,
            score=ClientScore(
                probability=p,
                threshold=b.threshold,
                decision=decision,
                reason_codes=codes,
                attribution=method,
                model_version=b.model_version,
            ),
            info=self._info(pos),
            features=summary,
        )

    def explanation(
        self, sk_id_curr: int, request_id: str, top: int | None, method_name: str | None
    ) -> ExplanationResponse:
        pos = self._position(sk_id_curr)
        s, b = self.store, self.bundle
        method: Attribution = (
            "linear" if b.model_kind == "linear" else self.attribution(method_name or "treeshap")
        )
        x = s.X[pos : pos + 1]
        contrib = self.contributions(x, method)[0]
        k = len(b.feature_names)
        order = np.argsort(-np.abs(contrib[:k]), kind="stable")
        if top is not None:
            order = order[:top]
        rows = [
            Contribution(
                feature=b.feature_names[j],
                label=b.labels.get(b.feature_names[j], b.feature_names[j]),
                value=_value(b.decode_value(b.feature_names[j], float(x[0, j]))),
                contribution=float(contrib[j]),
                direction="increases_risk" if contrib[j] > 0 else "decreases_risk",
            )
            for j in order
        ]
        p = float(s.proba[pos])
        return ExplanationResponse(
            request_id=request_id,
            sk_id_curr=sk_id_curr,
            model_version=b.model_version,
            method=method,
            units="log-odds",
            base_value=float(contrib[k]),
            raw_score=float(contrib.sum()),
            probability=p,
            threshold=b.threshold,
            decision=b.decide(p),
            n_features=k,
            contributions=rows,
        )

    def list_clients(
        self,
        *,
        contract_type: str | None,
        income_band: str | None,
        age_band: str | None,
        decision: str | None,
        gender: str | None,
        page: int,
        page_size: int,
    ) -> ClientPage:
        rows = self.store.filter(
            contract_type=contract_type,
            income_band=income_band,
            age_band=age_band,
            decision=decision,
            gender=gender,
        )
        total = int(rows.size)
        start = (page - 1) * page_size
        return ClientPage(
            items=[self._row(int(p)) for p in rows[start : start + page_size]],
            total=total,
            page=page,
            page_size=page_size,
            pages=max(1, math.ceil(total / page_size)),
        )

    @staticmethod
    def _criteria(key: GroupKey) -> GroupCriteria:
        age, income, contract = key
        parts = [
            f"age {bands.band_label(age)}" if age else "age unknown",
            f"income {bands.band_label(income)}" if income else "income unknown",
            contract or "contract unknown",
        ]
        return GroupCriteria(
            age_band=age,
            income_band=income,
            contract_type=contract,
            description="known clients with the same age band, income band and contract type: "
            + ", ".join(parts),
        )

    def similar(self, sk_id_curr: int, size: int) -> SimilarResponse:
        """The comparable group (same age band, income band, contract type; client excluded)."""
        pos = self._position(sk_id_curr)
        s, b = self.store, self.bundle
        rows = s.group_rows(pos)
        n = int(rows.size)
        feats: list[GroupFeature] = []
        for name in self.summary_features:
            j = self.feature_index[name]
            v = float(s.X[pos, j])
            kind = self._kind(name)
            group = FeatureStats.of(s.X[rows, j])
            numeric = kind == "numeric"
            feats.append(
                GroupFeature(
                    feature=name,
                    label=b.labels.get(name, name),
                    kind=kind,
                    client_value=_value(b.decode_value(name, v)),
                    group_median=_value(self._median(name, group)),
                    group_q25=group.quantile(0.25) if numeric else None,
                    group_q75=group.quantile(0.75) if numeric else None,
                    population_median=_value(s.median_value(j)),
                    client_percentile_in_group=group.percentile(v) if numeric else None,
                )
            )
        nearest = rows[np.argsort(np.abs(s.proba[rows] - s.proba[pos]), kind="stable")[:size]]
        return SimilarResponse(
            sk_id_curr=sk_id_curr,
            criteria=self._criteria(s.group_key(pos)),
            count=n,
            approval_rate=float(np.mean(~s.refused[rows])) if n else None,
            mean_probability=float(np.mean(s.proba[rows])) if n else None,
            features=feats,
            items=[self._row(int(r)) for r in nearest],
        )

    def _median(self, name: str, st: FeatureStats) -> float | str | None:
        if st.n == 0:
            return None
        if name in self.bundle.categorical_levels:
            code = float(np.bincount(st.sorted_values.astype(np.int64)).argmax())
            return self.bundle.decode_value(name, code)
        return st.quantile(0.5)

    def population(
        self, feature: str, group: Literal["all", "similar"], sk_id_curr: int | None, bins: int
    ) -> PopulationResponse:
        j = self.feature_index.get(feature)
        if j is None:
            raise not_found(f"unknown feature {feature!r}; see GET /v1/features", "feature")
        s, b = self.store, self.bundle
        pos = self._position(sk_id_curr) if sk_id_curr is not None else None
        criteria: GroupCriteria | None = None
        rows: np.ndarray | None = None
        if group == "similar":
            if pos is None:
                raise invalid("sk_id_curr", "required when group=similar", "query")
            rows = s.group_rows(pos)
            criteria = self._criteria(s.group_key(pos))
        st = s.stats(j) if rows is None else FeatureStats.of(s.X[rows, j])
        kind = self._kind(feature)
        edges, counts = s.histogram(j, bins, rows)
        quantiles: dict[str, float] = {}
        mean: float | None = None
        if kind == "numeric" and st.n:
            quantiles = s.quantiles(st)
            mean = float(st.sorted_values.mean())
        client_value: Value = None
        client_pct: float | None = None
        if pos is not None:
            v = float(s.X[pos, j])
            client_value = _value(b.decode_value(feature, v))
            client_pct = st.percentile(v) if kind == "numeric" else None
        return PopulationResponse(
            feature=feature,
            label=b.labels.get(feature, feature),
            kind=kind,
            group=group,
            criteria=criteria,
            n=st.n,
            n_missing=st.n_missing,
            histogram=Histogram(edges=edges, counts=counts),
            levels=list(b.categorical_levels[feature]) if kind == "categorical" else None,
            quantiles=quantiles,
            mean=mean,
            sk_id_curr=sk_id_curr,
            client_value=client_value,
            client_percentile=client_pct,
        )

    # -- model ----------------------------------------------------------------------------------
    def feature_list(self) -> FeatureList:
        b = self.bundle
        return FeatureList(
            features=[
                FeatureInfo(
                    name=f,
                    label=b.labels.get(f, f),
                    kind=self._kind(f),
                    levels=list(b.categorical_levels[f]) if f in b.categorical_levels else None,
                    importance_rank=self.importance_rank.get(f),
                )
                for f in b.feature_names
            ]
        )

    def model_info(self) -> ModelResponse:
        b = self.bundle
        meta = b.meta
        cost = {str(k): float(v) for k, v in (meta.get("cost") or {}).items()}
        return ModelResponse(
            model_version=b.model_version,
            model_kind=b.model_kind,
            threshold=b.threshold,
            calibration_method=b.calibration.method,
            n_features=len(b.feature_names),
            metrics=dict(meta.get("metrics") or {}),
            cost=cost,
            top_features=[str(f) for f in meta.get("top_features", [])],
            reason_attribution=self.attribution(None),
            data_digest=str(meta.get("data_digest", "")),
            git_rev=str(meta.get("git_rev", "")),
        )
