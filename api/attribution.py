"""Fast per-request attributions for tree ensembles: path attribution (Saabas) from leaf indices.

Why not exact TreeSHAP on every refusal: ``booster.predict(x, pred_contrib=True)`` costs
O(trees · leaves · depth²) per row — milliseconds on a production-sized LightGBM (STACK_NOTES:
≈ 4 ms for 300 trees × 500 features), which would make every refusal 30-100× dearer than a
plain decision. A reason code needs the few features that pushed this applicant toward refusal,
not the Shapley value of all 500.

Path attribution (Saabas 2014, "treeinterpreter"; XGBoost's ``approx_contribs=True``) walks the
path from each tree's root to the leaf the row reaches and credits every split's feature with
the change in the node's expected value. It depends only on the leaf reached, so we precompute,
for every leaf of every tree, the list of ``(feature, delta)`` pairs on its path. Scoring a row
is then one ``pred_leaf`` call (the cost of a prediction) plus a gather and a ``bincount``.

Properties kept from TreeSHAP:

- *local accuracy*: contributions + bias sum exactly to the raw score (checked in tests), with
  the same bias as TreeSHAP (each root's data-weighted expected value);
- *missingness*: a feature that no split on the row's paths uses gets exactly 0.

What it gives up: Saabas credits are not Shapley values (features split near the root get more
credit). How often it names the same reason codes as exact TreeSHAP is measured by
``benchmarks/attribution_agreement.py`` and stated in docs/api.md; the explanation endpoint
keeps exact TreeSHAP, and the API uses path attribution only for models whose TreeSHAP is too
costly per request (:func:`treeshap_is_affordable`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class PathAttribution:
    """Precomputed path credits of a LightGBM booster. Build with :meth:`from_booster`."""

    leaf_offset: np.ndarray  # (n_trees,) first global leaf id of each tree
    leaf_value: np.ndarray  # (n_leaves,) leaf outputs (raw score = their sum along the row)
    path_ptr: np.ndarray  # (n_leaves + 1,) start of each leaf's credits in path_feature/delta
    path_feature: np.ndarray  # (n_pairs,) feature index credited
    path_delta: np.ndarray  # (n_pairs,) credit (log-odds)
    bias: float  # sum of the roots' expected values (= TreeSHAP's bias column)
    n_features: int
    #: Σ over trees of leaves × depth²: TreeSHAP's work per row is proportional to it
    #: (Lundberg et al. 2020: O(T·L·D²)); see :func:`treeshap_is_affordable`.
    treeshap_work: int = 0

    @classmethod
    def from_booster(cls, booster: Any) -> PathAttribution:
        """Walk every tree of ``booster.dump_model()`` once (a fraction of a second at load)."""
        model = booster.dump_model()
        n_features = int(model["max_feature_idx"]) + 1
        offsets: list[int] = []
        leaf_values: list[float] = []
        paths: list[dict[int, float]] = []
        bias = 0.0
        work = 0
        for tree in model["tree_info"]:
            offsets.append(len(leaf_values))
            n_leaves = int(tree["num_leaves"])
            tree_values = [0.0] * n_leaves
            tree_paths: list[dict[int, float]] = [{} for _ in range(n_leaves)]
            root = tree["tree_structure"]
            root_value = _expected_values(root)
            bias += root_value
            # iterative DFS: (node, credits accumulated on the way to it, depth)
            stack: list[tuple[Mapping[str, Any], dict[int, float], int]] = [(root, {}, 0)]
            max_depth = 0
            while stack:
                node, credits, depth = stack.pop()
                if "split_feature" not in node:
                    idx = int(node.get("leaf_index", 0))
                    tree_values[idx] = float(node["leaf_value"])
                    tree_paths[idx] = credits
                    max_depth = max(max_depth, depth)
                    continue
                feature = int(node["split_feature"])
                here = float(node["_expected"])
                for child in (node["left_child"], node["right_child"]):
                    nxt = dict(credits)
                    nxt[feature] = nxt.get(feature, 0.0) + float(child["_expected"]) - here
                    stack.append((child, nxt, depth + 1))
            work += n_leaves * max_depth * max_depth
            leaf_values.extend(tree_values)
            paths.extend(tree_paths)
        ptr = np.zeros(len(paths) + 1, dtype=np.int64)
        ptr[1:] = np.cumsum([len(p) for p in paths])
        feats = np.fromiter((f for p in paths for f in p), dtype=np.int64, count=int(ptr[-1]))
        deltas = np.fromiter(
            (d for p in paths for d in p.values()), dtype=np.float64, count=int(ptr[-1])
        )
        return cls(
            leaf_offset=np.asarray(offsets, dtype=np.int64),
            leaf_value=np.asarray(leaf_values, dtype=np.float64),
            path_ptr=ptr,
            path_feature=feats,
            path_delta=deltas,
            bias=bias,
            n_features=n_features,
            treeshap_work=work,
        )

    def from_leaves(self, leaves: np.ndarray) -> np.ndarray:
        """Contributions (n_rows, n_features + 1; last column = bias) from ``pred_leaf`` output."""
        leaves = np.atleast_2d(np.asarray(leaves, dtype=np.int64))
        out = np.empty((leaves.shape[0], self.n_features + 1), dtype=np.float64)
        for i, row in enumerate(leaves):
            gid = self.leaf_offset + row
            starts = self.path_ptr[gid]
            lengths = self.path_ptr[gid + 1] - starts
            # indices of every credit on the row's paths: concatenated [start, start + length)
            total = int(lengths.sum())
            idx = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(total)
            out[i, :-1] = np.bincount(
                self.path_feature[idx], weights=self.path_delta[idx], minlength=self.n_features
            )
            out[i, -1] = self.bias
        return out

    def raw_from_leaves(self, leaves: np.ndarray) -> np.ndarray:
        """The raw score (log-odds) of each row: the sum of the leaf outputs it reaches."""
        leaves = np.atleast_2d(np.asarray(leaves, dtype=np.int64))
        return np.asarray(self.leaf_value[self.leaf_offset + leaves].sum(axis=1))


def _expected_values(node: dict[str, Any]) -> float:
    """Annotate every node with ``_expected`` (data-weighted mean of its leaves); return root's.

    This is the expected value TreeSHAP uses (cover-weighted), so the bias matches its last
    column. LightGBM's own ``internal_value`` is a regularised Newton step, not that mean.
    """
    # post-order without recursion (leaf-wise trees can be deep)
    order: list[dict[str, Any]] = []
    stack = [node]
    while stack:
        n = stack.pop()
        order.append(n)
        if "split_feature" in n:
            stack.extend((n["left_child"], n["right_child"]))
    for n in reversed(order):
        if "split_feature" not in n:
            n["_expected"] = float(n["leaf_value"])
            n["_count"] = float(n.get("leaf_count", 0) or 0)
            continue
        left, right = n["left_child"], n["right_child"]
        cl, cr = left["_count"], right["_count"]
        total = cl + cr
        if total > 0:
            n["_expected"] = (cl * left["_expected"] + cr * right["_expected"]) / total
        else:
            n["_expected"] = 0.5 * (left["_expected"] + right["_expected"])
        n["_count"] = total
    return float(node["_expected"])


#: TreeSHAP work (Σ leaves × depth²) affordable on every refusal. Measured single-threaded on the
#: 2-core development machine: 6,808 units (the pipeline's 213-tree model) took 0.07 ms per row,
#: 1,799,085 units (500 trees × 31 leaves, depth ≤ 18) 4.5 ms; about 2.5 ns per unit on large
#: models, so this budget is about 1 ms per row.
AFFORDABLE_TREESHAP_WORK = 400_000


def treeshap_is_affordable(attribution: PathAttribution) -> bool:
    """Whether exact TreeSHAP fits the per-request budget (the ``auto`` attribution rule)."""
    return attribution.treeshap_work <= AFFORDABLE_TREESHAP_WORK
