"""Excluding protected attributes from training: which model features derive from an attribute.

``train.exclude_attributes`` (conf/train/default.yaml) lists application columns such as
``CODE_GENDER``. The train and evaluate stages drop from the model matrix every feature whose
*lineage* reaches one of them, read from the resolved feature spec (``features.yaml``), not from
the feature names:

- the raw column itself (``CODE_GENDER``);
- its frequency encoding (``NAME_FAMILY_STATUS_FREQ``);
- every derived application feature whose expression reads it, directly or through another
  derived feature (``AGE_YEARS = -DAYS_BIRTH / 365.25``, then anything computed from
  ``AGE_YEARS``);
- every cross feature reading any of the above.

History blocks aggregate other tables (bureau, previous applications...), which hold no
application column, so none of their features is dropped. A name that merely *contains* the
attribute is not dropped (``PREV_ALL_NAME_TYPE_SUITE_FAMILY_SHARE`` has nothing to do with
``NAME_FAMILY_STATUS``). Proxies (income type, occupation, family size...) are kept on purpose:
the switch removes direct use of the attribute, and the fairness report measures what remains.

The raw attribute stays in the data: the API still accepts it, and the explain stage still uses
it to measure fairness by group.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from scoring.schema import APPLICATION_TRAIN, table_schema

if TYPE_CHECKING:  # polars & co are imported only when an exclusion is asked for
    from scoring.features import FeatureSpec
    from scoring.training import FeatureList

#: params.yaml location of the switch (in error messages and the bundle).
PARAM = "train.exclude_attributes"
#: bundle.json key: {attribute: [model features removed because of it]}.
BUNDLE_KEY = "excluded_attributes"


def check_attributes(attributes: Iterable[str]) -> tuple[str, ...]:
    """The attribute names, validated: each must be an ``application_train`` column.

    A typo must fail loudly: silently excluding nothing would publish a "gender-blind" model
    that still uses gender.
    """
    columns = [c for c in table_schema(APPLICATION_TRAIN).column_names if c != "TARGET"]
    out: list[str] = []
    for raw in attributes:
        name = str(raw).strip()
        if name not in columns:
            near = difflib.get_close_matches(name.upper(), columns, n=3)
            hint = f"; did you mean {', '.join(near)}?" if near else ""
            raise ValueError(
                f"{PARAM}: {name!r} is not a column of {APPLICATION_TRAIN}{hint} "
                "(attributes are raw application columns, e.g. CODE_GENDER, DAYS_BIRTH)"
            )
        if name == "SK_ID_CURR":
            raise ValueError(f"{PARAM}: SK_ID_CURR is the client key, not an attribute")
        if name not in out:
            out.append(name)
    return tuple(out)


def attribute_lineage(spec: FeatureSpec, attribute: str) -> list[str]:
    """Every feature of ``spec`` computed from ``attribute``, in model column order."""
    from scoring.features.expr import columns

    app = spec.application
    tainted = {attribute}
    for column, feature in zip(app.frequency, app.frequency_features, strict=True):
        if column in tainted:
            tainted.add(feature.name)
    # derived and cross features may read earlier ones: one pass in spec order is transitive
    for derived in (*app.derived, *spec.cross):
        if columns(derived.node) & tainted:
            tainted.add(derived.name)
    return [f for f in spec.feature_names if f in tainted]


@dataclass(frozen=True)
class Exclusion:
    """The attributes excluded from training and the model features each one removes."""

    features_by_attribute: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def attributes(self) -> tuple[str, ...]:
        return tuple(self.features_by_attribute)

    @property
    def features(self) -> frozenset[str]:
        return frozenset(f for fs in self.features_by_attribute.values() for f in fs)

    def apply(self, feats: FeatureList) -> FeatureList:
        """The feature list without the excluded features (order and labels kept)."""
        from scoring.training import FeatureList

        if not self.features_by_attribute:
            return feats
        drop = self.features
        names = tuple(n for n in feats.names if n not in drop)
        if not names:
            raise ValueError(f"{PARAM} removes every model feature")
        return FeatureList(
            names=names,
            categorical=tuple(c for c in feats.categorical if c not in drop),
            labels={n: feats.labels[n] for n in names},
        )

    def to_json(self) -> dict[str, list[str]]:
        """What the bundle and best.json record (``{}`` when nothing is excluded)."""
        return {a: list(fs) for a, fs in self.features_by_attribute.items()}


def exclusion(
    attributes: Sequence[str], feature_names: Sequence[str], spec: FeatureSpec | None
) -> Exclusion:
    """The exclusion of ``attributes`` from a model trained on ``feature_names``.

    ``spec`` (the resolved feature spec the features were built from) is needed only when
    something is excluded. A model feature the spec does not define is an error: the lineage
    of such a column cannot be known.
    """
    attrs = check_attributes(attributes)
    if not attrs:
        return Exclusion()
    if spec is None:
        raise ValueError(f"{PARAM} needs the resolved feature spec (--feature-spec)")
    unknown = sorted(set(feature_names) - set(spec.feature_names))
    if unknown:
        raise ValueError(
            f"{len(unknown)} model features are not in the feature spec, e.g. {unknown[:5]}: "
            "the feature list and features.yaml come from different runs"
        )
    present = set(feature_names)
    return Exclusion(
        {a: tuple(f for f in attribute_lineage(spec, a) if f in present) for a in attrs}
    )


def load_resolved_spec(path: str | Path) -> FeatureSpec:
    """The spec inside ``features.yaml`` written by the features stage (resolved + fitted)."""
    from scoring.features import load_spec

    data: Any = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or "spec" not in data:
        raise ValueError(f"{path}: not a resolved feature spec (no 'spec' key)")
    return load_spec(data["spec"], where=f"{path}: spec")


def attributes_from_params(params: Mapping[str, Any]) -> tuple[str, ...]:
    """``train.exclude_attributes`` from params.yaml (absent section or key = nothing)."""
    section = params.get("train") or {}
    if not isinstance(section, Mapping):
        raise TypeError("params.yaml section 'train' must be a mapping")
    value = section.get("exclude_attributes") or []
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise TypeError(f"{PARAM} must be a list of column names, e.g. [CODE_GENDER]")
    return check_attributes(value)


def exclusion_for_stage(
    attributes: Sequence[str], feature_names: Sequence[str], spec_path: str | None
) -> Exclusion:
    """What a stage excludes: reads the spec only when an attribute is listed."""
    attrs = check_attributes(attributes)
    if not attrs:
        return Exclusion()
    if not spec_path:
        raise ValueError(f"{PARAM}={list(attrs)} needs --feature-spec (features.yaml)")
    return exclusion(attrs, feature_names, load_resolved_spec(spec_path))
