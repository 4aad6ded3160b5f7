"""Where metrics disagree about the order of methods: rank correlation between the metrics of a ranking table."""
from __future__ import annotations

import math

# +1: higher is better, -1: lower is better (rank_methods' columns)
ORIENTATION = {"deletion_auc": -1, "insertion_auc": 1, "sensitivity": -1, "pointing": 1, "energy": 1,
               "faithfulness": 1, "max_sensitivity": -1, "sparseness": 1, "complexity": -1, "random_logit": -1}
SKIP = {"rank", "method", "seconds"}


def metric_agreement(rows: list[dict], metrics=None, kind: str = "kendall") -> dict:
    """Rank correlation (Kendall's tau or Spearman) between every pair of metrics over the methods of `rows`
    (explorer.saliency.rank_methods' output, or any list of {'method': ..., metric: value}).

    Each metric is oriented so that larger means better (ORIENTATION; unknown columns count as higher-is-better).
    Returns {'metrics': [...], 'matrix': [[corr]], 'orders': {metric: [methods, best first]}}: a correlation
    below 1 means the two metrics order the methods differently.
    """
    from scipy.stats import kendalltau, spearmanr

    if kind not in ("kendall", "spearman"):
        raise ValueError(f"unknown kind {kind!r}; choose 'kendall' or 'spearman'")
    if len(rows) < 2:
        raise ValueError(f"need at least two methods to compare orders; got {len(rows)}")
    if metrics is None:
        metrics = [k for k in rows[0] if k not in SKIP and all(isinstance(r.get(k), (int, float)) for r in rows)]
    missing = [m for m in metrics if any(not isinstance(r.get(m), (int, float)) for r in rows)]
    if missing:
        raise ValueError(f"metric(s) {missing} missing from some rows; columns: {', '.join(rows[0])}")
    score = {m: [ORIENTATION.get(m, 1) * float(r[m]) for r in rows] for m in metrics}
    corr = kendalltau if kind == "kendall" else spearmanr
    matrix = []
    for a in metrics:
        line = []
        for b in metrics:
            c = 1.0 if a == b else corr(score[a], score[b])[0]
            line.append(float("nan") if c is None or (isinstance(c, float) and math.isnan(c)) else float(c))
        matrix.append(line)
    names = [r["method"] for r in rows]
    orders = {m: [names[i] for i in sorted(range(len(rows)), key=lambda i: -score[m][i])] for m in metrics}
    return {"metrics": list(metrics), "matrix": matrix, "orders": orders, "kind": kind}
