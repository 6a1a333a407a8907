"""The benchmark's baseline: the same bundle served by ``mlflow models serve`` (pyfunc).

This is what a straightforward MLflow deployment of our model does per request: a pandas
DataFrame of the model features arrives (``dataframe_split``), the bundle encodes it (a single
row through the same fast record path as the API), predicts the calibrated probability, applies
the threshold and — for a refusal — computes exact TreeSHAP contributions
(``Bundle.contributions``) and the 4 reason codes. Same model, same numbers as the API; the
client sends ready-made features (less work for the server than the API's raw application).

Saved as an MLflow "model from code" (no pickle): ``benchmarks/api_bench.py`` calls
``mlflow.pyfunc.save_model(python_model=<this file>, artifacts={"bundle": ...})``.
"""

from __future__ import annotations

from typing import Any

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel


class BundleModel(PythonModel):
    """Calibrated probability, decision and reason codes from a model bundle."""

    def load_context(self, context: Any) -> None:
        from scoring.bundle import load_bundle

        self.bundle = load_bundle(context.artifacts["bundle"])
        if self.bundle.booster is not None:
            self.bundle.predict_params = {"num_threads": 1}

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        b = self.bundle
        if len(model_input) == 1:  # the common online case: skip the per-column pandas path
            X = b.encode_record({str(k): v for k, v in model_input.iloc[0].items()})
        else:
            X = b.encode(model_input)
        proba = b.predict_proba(X)
        out: list[dict[str, Any]] = []
        for i, p in enumerate(proba):
            decision = b.decide(float(p))
            reasons: list[dict[str, Any]] = []
            if decision == "refused":
                contrib = b.contributions(X[i : i + 1])[0]
                reasons = [
                    {
                        "feature": r.feature,
                        "label": r.label,
                        "value": r.value,
                        "contribution": r.contribution,
                    }
                    for r in b.reason_codes(X[i], contrib)
                ]
            out.append(
                {
                    "probability": float(p),
                    "threshold": b.threshold,
                    "decision": decision,
                    "reason_codes": reasons,
                    "model_version": b.model_version,
                }
            )
        return out


mlflow.models.set_model(BundleModel())
