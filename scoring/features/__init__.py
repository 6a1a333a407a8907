"""Feature engineering on the seven Home Credit tables: one declarative spec, one engine.

Public API (everything else in the package is an implementation detail)::

    from scoring.features import FeatureBuilder, scan_parquet_tables

    builder = FeatureBuilder.from_spec("conf/features/default.yaml")  # or params.yaml / a dict
    builder = builder.fit(application_train)        # frequency encodings: training rows only
    frame = builder.build(applications, scan_parquet_tables(Path("data/interim"), TABLES))
    builder.save("data/features/features.yaml")     # resolved spec + fitted state
    builder.feature_list()                          # {"features": [{name, kind, ...}, ...]}

    # the API: load once, then per request
    builder = FeatureBuilder.load("models/bundle/features.yaml").warm_up()  # plans built once
    values = builder.for_application(application, history=None)   # fast path, no history
    values = builder.for_application(application, {"bureau": [...], "bureau_balance": [...]})

- :meth:`FeatureBuilder.build` → Polars frame ``SK_ID_CURR`` + features (model column order);
  categorical application columns stay strings (the model stage encodes them).
- :meth:`FeatureBuilder.for_application` → ``dict[name, float | str | None]`` in the same
  order, ``None`` for missing; exactly the batch values for that client (tested). Raises
  :class:`FeatureInputError` (``.field`` = ``"history.bureau[0].AMT_CREDIT_SUM"``) on bad input.
- :class:`SpecError` for an invalid spec, naming the location in the YAML.

No-history values: ``sum``, ``count`` and ``nunique`` aggregates are 0 for a client with no
rows in a block/subset; every other aggregate (min, max, mean, var, shares) is missing.
See docs/features.md for the spec format, the engine choice and measured figures.
"""

from scoring.features.builder import FeatureBuilder, FeatureInputError
from scoring.features.engine import client_features, empty_frame, scan_parquet_tables
from scoring.features.spec import FeatureDef, FeatureSpec, SpecError, load_spec

__all__ = [
    "FeatureBuilder",
    "FeatureDef",
    "FeatureInputError",
    "FeatureSpec",
    "SpecError",
    "client_features",
    "empty_frame",
    "load_spec",
    "scan_parquet_tables",
]
