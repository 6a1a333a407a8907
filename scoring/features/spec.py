"""The declarative feature spec (``conf/features/*.yaml``): parsing, validation, feature names.

Why one spec: the Kaggle kernels that this project replaces copy one aggregation function per
table; every new idea then has to be added five times and the copies drift apart. Here each
history *block* is data — source table, grouping key, pre-joined child blocks, derived row-level
columns, subsets (filters, time windows, "last N" windows) and column → aggregation lists — and
one engine (:mod:`scoring.features.engine`) serves them all.

Feature names are generated here, once, as ``{BLOCK}_{SUBSET}_{COLUMN}_{AGG}``
(e.g. ``INSTAL_L12M_DPD_MAX``; category shares are ``{BLOCK}_{SUBSET}_{COLUMN}_{LEVEL}_SHARE``),
together with a human-readable label and the value a client without history gets.

Every problem is reported as one :class:`SpecError` whose message starts with the location in
the spec (``features.history.BURO.aggregate[1].columns.AMT_FOO``) and says what is allowed.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import yaml

from scoring.features import expr as ex
from scoring.features.labels import column_label
from scoring.schema import APPLICATION_TRAIN, HISTORY_TABLES, table_schema

Agg = Literal["min", "max", "mean", "sum", "var", "count", "nunique", "share"]
AGGS: tuple[str, ...] = get_args(Agg)
NUMERIC_AGGS = frozenset({"min", "max", "mean", "sum", "var", "count", "nunique"})
TEXT_AGGS = frozenset({"share", "count", "nunique"})
#: Aggregations whose value over an empty set of rows is 0 (a client without any bureau credit
#: has 0 credits and owes 0 in total); every other aggregation is missing (NaN) for them.
ZERO_WHEN_EMPTY = frozenset({"sum", "count", "nunique"})
CLIENT_KEY = "SK_ID_CURR"
ALL = "ALL"
_NAME_RE = re.compile(r"^[A-Z][A-Z0-9_]*$")
_TEMPLATE_FIELDS = {"column", "agg", "table", "subset"}


class SpecError(ValueError):
    """The feature spec is invalid; the message names the spec location and the fix."""


@dataclass(frozen=True)
class Derived:
    """A numeric column computed row by row from an expression (see :mod:`expr`)."""

    name: str
    text: str
    node: ex.Node
    label: str
    fn: ex.NumpyFn = field(compare=False, repr=False)


@dataclass(frozen=True)
class Subset:
    """Rows a block's aggregations run on: all, a filter, or the ``last`` most recent rows."""

    name: str
    label: str
    where: ex.Node | None = None
    last: int | None = None
    by: str | None = None


@dataclass(frozen=True)
class Join:
    """A child block aggregated on column ``on`` (spec key ``through``; YAML reads a bare ``on``
    as a boolean) and left-joined to this block's rows before grouping."""

    block: str
    on: str


@dataclass(frozen=True)
class AggItem:
    subset: str
    column: str
    agg: Agg


@dataclass(frozen=True)
class FeatureDef:
    """One output column: name, kind, where it comes from, its label and no-history value."""

    name: str
    kind: Literal["numeric", "categorical"]
    source_table: str
    label: str
    block: str | None = None
    subset: str | None = None
    column: str | None = None
    agg: Agg | None = None
    level: str | None = None

    @property
    def empty_value(self) -> float | None:
        """Value for a client with no rows in this block/subset (0 or missing, see above)."""
        if self.block is None:
            return None
        return 0.0 if self.agg in ZERO_WHEN_EMPTY else None

    def as_json(self) -> dict[str, str]:
        return {
            "name": self.name,
            "kind": self.kind,
            "source_table": self.source_table,
            "label": self.label,
        }


@dataclass(frozen=True)
class HistoryBlock:
    """One aggregation block over a history table (feature prefix = block name)."""

    name: str
    table: str
    key: str
    label: str
    sentinels: tuple[tuple[str, float], ...]
    derived: tuple[Derived, ...]
    subsets: tuple[Subset, ...]
    items: tuple[AggItem, ...]
    joins: tuple[Join, ...]
    labels: tuple[tuple[str, str], ...]
    features: tuple[FeatureDef, ...]
    raw_columns: tuple[str, ...]  # columns read from the table (projection)

    @property
    def client_level(self) -> bool:
        return self.key == CLIENT_KEY

    def subset(self, name: str) -> Subset:
        for s in self.subsets:
            if s.name == name:
                return s
        raise KeyError(name)


@dataclass(frozen=True)
class ApplicationSpec:
    sentinels: tuple[tuple[str, float], ...]
    drop: tuple[str, ...]
    raw: tuple[FeatureDef, ...]
    derived: tuple[Derived, ...]
    frequency: tuple[str, ...]
    frequency_features: tuple[FeatureDef, ...]


@dataclass(frozen=True)
class FeatureSpec:
    """The validated spec: application part, history blocks (children first), cross features."""

    raw: Mapping[str, Any]
    application: ApplicationSpec
    blocks: tuple[HistoryBlock, ...]
    cross: tuple[Derived, ...]
    cross_features: tuple[FeatureDef, ...]

    def block(self, name: str) -> HistoryBlock:
        for b in self.blocks:
            if b.name == name:
                return b
        raise KeyError(name)

    @property
    def client_blocks(self) -> tuple[HistoryBlock, ...]:
        return tuple(b for b in self.blocks if b.client_level)

    @property
    def features(self) -> tuple[FeatureDef, ...]:
        """Every model feature, in model column order."""
        out: list[FeatureDef] = [*self.application.raw]
        out += [_derived_def(d, APPLICATION_TRAIN) for d in self.application.derived]
        out += self.application.frequency_features
        for b in self.client_blocks:
            out += b.features
        out += self.cross_features
        return tuple(out)

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]


def _derived_def(d: Derived, table: str) -> FeatureDef:
    return FeatureDef(name=d.name, kind="numeric", source_table=table, label=d.label)


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------
def load_spec(source: str | Path | Mapping[str, Any], *, where: str = "features") -> FeatureSpec:
    """Validate a spec given as a YAML path or an already-parsed mapping.

    A params.yaml may be passed as a path too: its ``features`` section is then used.
    """
    if isinstance(source, str | Path):
        path = Path(source)
        if not path.is_file():
            raise SpecError(f"feature spec file not found: {path}")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise SpecError(f"{path}: not valid YAML: {exc}") from None
        if isinstance(data, dict) and "features" in data and "application" not in data:
            data = data["features"]
        where = f"{path}: features"
        return _parse(data, where)
    return _parse(source, where)


def _parse(data: Any, where: str) -> FeatureSpec:
    m = _mapping(data, where)
    _known(m, where, {"version", "label_template", "agg_labels", "application", "history", "cross"})
    if m.get("version") != 1:
        raise SpecError(f"{where}.version: expected 1, got {m.get('version')!r}")
    template = _text(m.get("label_template"), f"{where}.label_template")
    names = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    if not names <= _TEMPLATE_FIELDS:
        raise SpecError(
            f"{where}.label_template: unknown field(s) {sorted(names - _TEMPLATE_FIELDS)}; "
            f"allowed: {sorted(_TEMPLATE_FIELDS)}"
        )
    agg_labels = _mapping(m.get("agg_labels"), f"{where}.agg_labels")
    missing = [a for a in AGGS if not isinstance(agg_labels.get(a), str) or not agg_labels[a]]
    if missing:
        raise SpecError(f"{where}.agg_labels: give a non-empty label for {missing}")
    app = _parse_application(m.get("application"), f"{where}.application")
    hist = _mapping(m.get("history", {}), f"{where}.history")
    ctx = _Ctx(template=template, agg_labels={k: str(v) for k, v in agg_labels.items()})
    blocks = _parse_blocks(hist, f"{where}.history", ctx)
    seen: dict[str, str] = {}
    for f in (
        *app.raw,
        *(_derived_def(d, APPLICATION_TRAIN) for d in app.derived),
        *app.frequency_features,
    ):
        _unique(f.name, f"{where}.application", seen)
    for b in blocks:
        if b.client_level:
            for f in b.features:
                _unique(f.name, f"{where}.history.{b.name}", seen)
    numeric = {f.name: "num" for f in (*app.raw, *app.frequency_features) if f.kind == "numeric"}
    numeric.update({d.name: "num" for d in app.derived})
    for b in blocks:
        if b.client_level:
            numeric.update({f.name: "num" for f in b.features})
    cross = _parse_derived(m.get("cross", {}), f"{where}.cross", numeric, {})
    for d in cross:
        _unique(d.name, f"{where}.cross.{d.name}", seen)
    return FeatureSpec(
        raw=m,
        application=app,
        blocks=blocks,
        cross=cross,
        cross_features=tuple(_derived_def(d, "cross") for d in cross),
    )


@dataclass(frozen=True)
class _Ctx:
    template: str
    agg_labels: Mapping[str, str]


def _parse_application(data: Any, where: str) -> ApplicationSpec:
    m = _mapping(data, where)
    _known(m, where, {"sentinels", "drop", "labels", "frequency", "derived"})
    schema = table_schema(APPLICATION_TRAIN)
    cols = {c.name: c for c in schema.columns if c.name not in (CLIENT_KEY, "TARGET")}
    drop = tuple(_names(m.get("drop", []), f"{where}.drop", set(cols)))
    sentinels = _sentinels(m.get("sentinels", {}), f"{where}.sentinels", cols)
    overrides = _labels(m.get("labels", {}), f"{where}.labels", set(cols))
    raw = tuple(
        FeatureDef(
            name=c.name,
            kind="categorical" if c.dtype == "str" else "numeric",
            source_table=APPLICATION_TRAIN,
            label=overrides.get(c.name) or column_label(APPLICATION_TRAIN, c.name),
        )
        for c in schema.columns
        if c.name in cols and c.name not in drop
    )
    types: dict[str, ex.ValueType] = {
        f.name: "str" if f.kind == "categorical" else "num" for f in raw
    }
    levels = {c.name: c.levels for c in schema.columns if c.levels is not None}
    derived = _parse_derived(m.get("derived", {}), f"{where}.derived", types, levels)
    freq = _mapping(m.get("frequency", {}), f"{where}.frequency")
    _known(freq, f"{where}.frequency", {"columns", "label"})
    text_cols = {f.name for f in raw if f.kind == "categorical"}
    fcols = tuple(_names(freq.get("columns", []), f"{where}.frequency.columns", text_cols))
    ftemplate = _text(freq.get("label", "{column}"), f"{where}.frequency.label")
    labels = {f.name: f.label for f in raw}
    freq_defs = tuple(
        FeatureDef(
            name=f"{c}_FREQ",
            kind="numeric",
            source_table=APPLICATION_TRAIN,
            label=_format(ftemplate, f"{where}.frequency.label", column=labels[c]),
        )
        for c in fcols
    )
    return ApplicationSpec(
        sentinels=sentinels,
        drop=drop,
        raw=raw,
        derived=derived,
        frequency=fcols,
        frequency_features=freq_defs,
    )


def _parse_blocks(hist: Mapping[str, Any], where: str, ctx: _Ctx) -> tuple[HistoryBlock, ...]:
    """Parse blocks so that every child comes before the block that joins it."""
    parsed: dict[str, HistoryBlock] = {}
    visiting: list[str] = []

    def visit(name: str, path: str) -> None:
        if name in parsed:
            return
        if name in visiting:
            raise SpecError(f"{path}: join cycle {' -> '.join([*visiting, name])}")
        if name not in hist:
            raise SpecError(f"{path}: unknown block {name!r}; blocks: {sorted(hist)}")
        visiting.append(name)
        bm = _mapping(hist[name], f"{where}.{name}")
        for i, j in enumerate(_seq(bm.get("joins", []), f"{where}.{name}.joins")):
            jm = _mapping(j, f"{where}.{name}.joins[{i}]")
            visit(str(jm.get("block")), f"{where}.{name}.joins[{i}].block")
        visiting.pop()
        parsed[name] = _parse_block(name, bm, f"{where}.{name}", parsed, ctx)

    for name in hist:
        if not _NAME_RE.match(str(name)):
            raise SpecError(f"{where}.{name}: block names are UPPER_CASE (they prefix features)")
        visit(str(name), f"{where}.{name}")
    children = {j.block for b in parsed.values() for j in b.joins}
    for b in parsed.values():
        if not b.client_level and b.name not in children:
            raise SpecError(
                f"{where}.{b.name}: key {b.key} is not {CLIENT_KEY}, so the block must be joined "
                f"into another block (joins: [{{block: {b.name}, through: {b.key}}}])"
            )
    return tuple(parsed.values())


def _parse_block(
    name: str,
    m: Mapping[str, Any],
    where: str,
    parsed: Mapping[str, HistoryBlock],
    ctx: _Ctx,
) -> HistoryBlock:
    _known(
        m,
        where,
        {
            "table",
            "key",
            "label",
            "sentinels",
            "derived",
            "subsets",
            "aggregate",
            "joins",
            "labels",
        },
    )
    table = _text(m.get("table"), f"{where}.table")
    if table not in HISTORY_TABLES:
        raise SpecError(f"{where}.table: {table!r} is not a history table; one of {HISTORY_TABLES}")
    schema = table_schema(table)
    cols = {c.name: c for c in schema.columns}
    key = _text(m.get("key"), f"{where}.key")
    if key not in cols:
        raise SpecError(f"{where}.key: {table} has no column {key!r}")
    label = _text(m.get("label"), f"{where}.label")
    sentinels = _sentinels(m.get("sentinels", {}), f"{where}.sentinels", cols)
    types: dict[str, ex.ValueType] = {
        c.name: "str" if c.dtype == "str" else "num" for c in schema.columns
    }
    levels: dict[str, tuple[str, ...]] = {
        c.name: c.levels for c in schema.columns if c.levels is not None
    }
    col_labels: dict[str, str] = {}
    col_source: dict[str, str] = {}
    joins: list[Join] = []
    for i, j in enumerate(_seq(m.get("joins", []), f"{where}.joins")):
        jw = f"{where}.joins[{i}]"
        jm = _mapping(j, jw)
        _known(jm, jw, {"block", "through"})
        child = parsed[str(jm["block"])]
        on = _text(jm.get("through"), f"{jw}.through")
        if on not in cols:
            raise SpecError(f"{jw}.through: {table} has no column {on!r}")
        if child.key != on:
            raise SpecError(
                f"{jw}.through: block {child.name} is aggregated by {child.key}, not {on}"
            )
        if child.client_level:
            raise SpecError(
                f"{jw}: block {child.name} is client-level; only non-client blocks join"
            )
        for f in child.features:
            types[f.name] = "num"
            col_labels[f.name] = f.label
            col_source[f.name] = f.source_table
        joins.append(Join(block=child.name, on=on))
    overrides = _labels(m.get("labels", {}), f"{where}.labels", set(cols))
    derived = _parse_derived(m.get("derived", {}), f"{where}.derived", types, levels)
    for d in derived:
        types[d.name] = "num"
        col_labels[d.name] = d.label
    subsets = [Subset(name=ALL, label="")]
    for sname, sdata in _mapping(m.get("subsets", {}), f"{where}.subsets").items():
        subsets.append(_parse_subset(str(sname), sdata, f"{where}.subsets.{sname}", types, levels))
    subset_names = [s.name for s in subsets]
    if len(set(subset_names)) != len(subset_names):
        raise SpecError(f"{where}.subsets: {ALL} is implicit; do not define it")
    items: list[AggItem] = []
    for i, blk in enumerate(_seq(m.get("aggregate", []), f"{where}.aggregate")):
        aw = f"{where}.aggregate[{i}]"
        am = _mapping(blk, aw)
        _known(am, aw, {"subsets", "columns"})
        snames = _names(am.get("subsets", [ALL]), f"{aw}.subsets", set(subset_names))
        for col, aggs in _mapping(am.get("columns"), f"{aw}.columns").items():
            cw = f"{aw}.columns.{col}"
            if col not in types:
                raise SpecError(f"{cw}: {table} (block {name}) has no column {col!r}")
            allowed = TEXT_AGGS if types[col] == "str" else NUMERIC_AGGS
            for a in _seq(aggs, cw):
                if a not in allowed:
                    kind = "text" if types[col] == "str" else "numeric"
                    raise SpecError(
                        f"{cw}: {a!r} is not allowed on {kind} columns: {sorted(allowed)}"
                    )
                items.extend(AggItem(subset=s, column=str(col), agg=a) for s in snames)
    if not items:
        raise SpecError(f"{where}.aggregate: a block needs at least one aggregation")

    def col_text(col: str) -> str:
        return col_labels.get(col) or overrides.get(col) or column_label(table, col)

    features: list[FeatureDef] = []
    by_subset = {s.name: s for s in subsets}
    for it in items:
        sub = by_subset[it.subset]
        table_label = label
        subset_label = f" {sub.label}" if sub.label else ""
        source = col_source.get(it.column, table)
        if it.agg == "share":
            col_levels = levels.get(it.column)
            if not col_levels:
                raise SpecError(f"{where}: {table}.{it.column} has no known levels for 'share'")
            for lvl in col_levels:
                features.append(
                    FeatureDef(
                        name=f"{name}_{it.subset}_{it.column}_{_level_token(lvl)}_SHARE",
                        kind="numeric",
                        source_table=source,
                        label=_format(
                            ctx.template,
                            where,
                            column=f"{col_text(it.column)}: {lvl}",
                            agg=ctx.agg_labels["share"],
                            table=table_label,
                            subset=subset_label,
                        ),
                        block=name,
                        subset=it.subset,
                        column=it.column,
                        agg="share",
                        level=lvl,
                    )
                )
            continue
        features.append(
            FeatureDef(
                name=f"{name}_{it.subset}_{it.column}_{it.agg.upper()}",
                kind="numeric",
                source_table=source,
                label=_format(
                    ctx.template,
                    where,
                    column=col_text(it.column),
                    agg=ctx.agg_labels[it.agg],
                    table=table_label,
                    subset=subset_label,
                ),
                block=name,
                subset=it.subset,
                column=it.column,
                agg=it.agg,
            )
        )
    seen: dict[str, str] = {}
    for f in features:
        _unique(f.name, where, seen)
    needed = {key} | {j.on for j in joins} | {s.by for s in subsets if s.by}
    for d in derived:
        needed |= ex.columns(d.node)
    for s in subsets:
        if s.where is not None:
            needed |= ex.columns(s.where)
    needed |= {it.column for it in items}
    raw_columns = tuple(c for c in cols if c in needed)
    return HistoryBlock(
        name=name,
        table=table,
        key=key,
        label=label,
        sentinels=sentinels,
        derived=derived,
        subsets=tuple(subsets),
        items=tuple(items),
        joins=tuple(joins),
        labels=tuple(overrides.items()),
        features=tuple(features),
        raw_columns=raw_columns,
    )


def _parse_subset(
    name: str,
    data: Any,
    where: str,
    types: Mapping[str, ex.ValueType],
    levels: Mapping[str, tuple[str, ...]],
) -> Subset:
    if not _NAME_RE.match(name) or name == ALL:
        raise SpecError(f"{where}: subset names are UPPER_CASE and not {ALL} (it is implicit)")
    m = _mapping(data, where)
    _known(m, where, {"where", "last", "by", "label"})
    label = _text(m.get("label"), f"{where}.label")
    if "where" in m:
        if "last" in m or "by" in m:
            raise SpecError(f"{where}: give either 'where' or 'last' + 'by', not both")
        text = _text(m["where"], f"{where}.where")
        node = _expr(text, f"{where}.where", types, levels)
        return Subset(name=name, label=label, where=node)
    last, by = m.get("last"), m.get("by")
    if not isinstance(last, int) or isinstance(last, bool) or last < 1:
        raise SpecError(f"{where}: give 'where: <condition>' or 'last: <N ≥ 1>' with 'by: <col>'")
    if not isinstance(by, str) or types.get(by) != "num":
        raise SpecError(f"{where}.by: must name a numeric column to order rows by, got {by!r}")
    return Subset(name=name, label=label, last=last, by=by)


def _parse_derived(
    data: Any,
    where: str,
    types: dict[str, ex.ValueType] | Mapping[str, str],
    levels: Mapping[str, tuple[str, ...]],
) -> tuple[Derived, ...]:
    visible: dict[str, ex.ValueType] = {
        k: ("str" if v == "str" else "num") for k, v in types.items()
    }
    out: list[Derived] = []
    for name, entry in _mapping(data, where).items():
        dw = f"{where}.{name}"
        if not _NAME_RE.match(str(name)):
            raise SpecError(f"{dw}: derived column names are UPPER_CASE")
        if name in visible:
            raise SpecError(f"{dw}: {name!r} already exists; pick another name")
        em = _mapping(entry, dw)
        _known(em, dw, {"expr", "label"})
        text = _text(em.get("expr"), f"{dw}.expr")
        node = _expr(text, f"{dw}.expr", visible, levels)
        out.append(
            Derived(
                name=str(name),
                text=text,
                node=node,
                label=_text(em.get("label"), f"{dw}.label"),
                fn=ex.compile_numpy(node),
            )
        )
        visible[str(name)] = "num"
    return tuple(out)


def _expr(
    text: str,
    where: str,
    types: Mapping[str, ex.ValueType],
    levels: Mapping[str, tuple[str, ...]],
) -> ex.Node:
    try:
        node = ex.parse(text)
        ex.check(node, types, levels, text)
    except ex.ExprError as exc:
        raise SpecError(f"{where}: {exc}") from None
    return node


# ---------------------------------------------------------------------------------------------
# Small validators: every failure names its location
# ---------------------------------------------------------------------------------------------
def _mapping(v: Any, where: str) -> Mapping[str, Any]:
    if v is None:
        return {}
    if not isinstance(v, Mapping):
        raise SpecError(f"{where}: expected a mapping, got {type(v).__name__}")
    return v


def _seq(v: Any, where: str) -> Sequence[Any]:
    if not isinstance(v, Sequence) or isinstance(v, str):
        raise SpecError(f"{where}: expected a list, got {type(v).__name__}")
    return v


def _text(v: Any, where: str) -> str:
    if not isinstance(v, str) or not v.strip():
        raise SpecError(f"{where}: expected a non-empty string, got {v!r}")
    return v


def _known(m: Mapping[str, Any], where: str, allowed: set[str]) -> None:
    extra = sorted((str(k) for k in set(m) - allowed), key=str)
    if extra:
        hint = ""
        if any(isinstance(k, bool) for k in m):  # YAML 1.1 reads on/off/yes/no as booleans
            hint = " (YAML reads a bare on/off/yes/no key as a boolean: quote it"
            hint += ", or write `through:` in joins)"
        raise SpecError(f"{where}: unknown key(s) {extra}; allowed: {sorted(allowed)}{hint}")


def _names(v: Any, where: str, allowed: set[str]) -> list[str]:
    out = [str(x) for x in _seq(v, where)]
    bad = [x for x in out if x not in allowed]
    if bad:
        raise SpecError(f"{where}: unknown name(s) {bad}; allowed: {sorted(allowed)}")
    return out


def _sentinels(v: Any, where: str, cols: Mapping[str, Any]) -> tuple[tuple[str, float], ...]:
    out = []
    for col, value in _mapping(v, where).items():
        if col not in cols or cols[col].dtype == "str":
            raise SpecError(f"{where}.{col}: not a numeric column of the table")
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise SpecError(f"{where}.{col}: the sentinel must be a number, got {value!r}")
        out.append((str(col), float(value)))
    return tuple(out)


def _labels(v: Any, where: str, cols: set[str]) -> dict[str, str]:
    out = {}
    for col, text in _mapping(v, where).items():
        if col not in cols:
            raise SpecError(f"{where}.{col}: unknown column")
        out[str(col)] = _text(text, f"{where}.{col}")
    return out


def _format(template: str, where: str, **fields: str) -> str:
    try:
        text = template.format(**{k: fields.get(k, "") for k in _TEMPLATE_FIELDS})
    except (KeyError, IndexError, ValueError) as exc:
        raise SpecError(f"{where}: bad label template {template!r}: {exc}") from None
    text = " ".join(text.split())
    return text[:1].upper() + text[1:]


def _unique(name: str, where: str, seen: dict[str, str]) -> None:
    if name in seen:
        raise SpecError(f"{where}: feature {name!r} is generated twice (also by {seen[name]})")
    seen[name] = where


def _level_token(level: str) -> str:
    token = re.sub(r"[^0-9A-Za-z]+", "_", level).strip("_").upper()
    return token or "BLANK"
