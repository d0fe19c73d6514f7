"""Ensemble methods: combine members' class probabilities.

- ``mean``: the plain average (seed 003's "linear combination" with equal weights).
- ``weighted``: non-negative weights summing to 1, fitted on the validation split
  only by minimising its log-loss. The result is never worse on validation log-loss
  than the best single member or the mean (both are candidates of the search).
- ``stacking``: multinomial logistic regression on the concatenated member
  probabilities, fitted on validation; the validation metrics it reports are
  5-fold out-of-fold predictions, so they are not scored on the data it fit.
"""

from __future__ import annotations

import numpy as np

from ferflow.errors import ConfigError, DataError

EPS = 1e-7  # probability floor of the weight search's objective and the stacking features


def fit_weights(val_probs: list[np.ndarray], labels: np.ndarray) -> np.ndarray:
    """Simplex weights minimising the validation log-loss of the weighted mean (the
    objective and its gradient written out: SLSQP needs both)."""
    from scipy.optimize import minimize

    P = np.stack(val_probs).astype(np.float64)  # (members, n, classes)
    m = len(P)
    y = labels.astype(np.int64)
    py = P[:, np.arange(len(y)), y]  # (members, n): each member's probability of the truth

    def loss(w):
        return -np.log(np.clip(w @ py, EPS, None)).mean()

    def grad(w):
        q = np.clip(w @ py, EPS, None)
        return -(py / q).mean(axis=1)

    candidates = [np.full(m, 1.0 / m)] + [np.eye(m)[i] for i in range(m)]
    res = minimize(loss, candidates[0], jac=grad, method="SLSQP", bounds=[(0.0, 1.0)] * m,
                   constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1.0,
                                 "jac": lambda w: np.ones_like(w)}],
                   options={"maxiter": 500, "ftol": 1e-12})
    w = np.clip(res.x, 0.0, None)
    w = w / w.sum() if w.sum() > 0 else candidates[0]
    best = min(candidates + [w], key=loss)
    return best


def combine(method: str, probs: dict[str, list[np.ndarray]], val_labels: np.ndarray,
            seed: int = 0) -> tuple[dict[str, np.ndarray], dict]:
    """Combine per-set member probabilities. Returns (set -> probs, description)."""
    sets = list(probs)
    m = len(probs[sets[0]])
    if method == "mean":
        return {s: np.mean(probs[s], axis=0) for s in sets}, {"weights": [1.0 / m] * m}
    known = val_labels >= 0
    if known.sum() == 0:
        raise DataError(f"ensemble method {method!r} needs labelled validation faces")
    if method == "weighted":
        w = fit_weights([p[known] for p in probs["validation"]], val_labels[known])
        return {s: np.tensordot(w, np.stack(probs[s]), axes=1) for s in sets}, \
            {"weights": [float(x) for x in w]}
    if method == "stacking":
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import StratifiedKFold, cross_val_predict

        def features(s):
            return np.log(np.clip(np.concatenate(probs[s], axis=1), EPS, 1.0))

        X, y = features("validation")[known], val_labels[known]
        clf = LogisticRegression(C=1.0, max_iter=2000, random_state=seed)
        clf.fit(X, y)
        classes = list(clf.classes_)
        n_classes = probs[sets[0]][0].shape[1]

        def full(p):  # columns for every class, even ones missing from validation
            out = np.zeros((len(p), n_classes))
            out[:, classes] = p
            return out

        out = {s: full(clf.predict_proba(features(s))) for s in sets}
        counts = np.bincount(y)
        folds = max(2, min(5, int(counts[counts > 0].min())))
        oof = cross_val_predict(LogisticRegression(C=1.0, max_iter=2000, random_state=seed), X, y,
                                cv=StratifiedKFold(folds, shuffle=True, random_state=seed),
                                method="predict_proba")
        val = out["validation"].copy()
        val[known] = full(oof)
        out["validation"] = val
        return out, {"coefficients": clf.coef_.tolist(), "intercept": clf.intercept_.tolist(),
                     "classes": [int(c) for c in classes], "validation_folds": folds}
    raise ConfigError(f"unknown ensemble method {method!r} (mean, weighted or stacking)")
