"""How far a classifier's confidence can be trusted, and temperature scaling.

* A face's *confidence* is its top-class probability; its answer is *correct* when that
  class is the label. The faces are put in :data:`BINS` equal-width confidence bins on
  [0, 1] (bin k holds [k/B, (k+1)/B); a confidence of exactly 1 falls in the last bin).
  A bin's *accuracy* is its share of correct answers; a calibrated model's accuracy in
  each bin is its mean confidence (the reliability diagram's diagonal).
* The *expected calibration error* (ECE) is the faces-weighted mean gap between the two:
  the sum over bins of count / N * |accuracy - mean confidence|. Its interval is a
  percentile bootstrap over faces (seeded, see :func:`ece_interval`). ECE is never
  negative and resampling adds noise to each bin's gap, so the resampled ECEs run above
  the estimate: for a well-calibrated model the interval can lie above it.
* *Temperature scaling* (Guo et al. 2017) divides the log-probabilities by one number
  T > 0 fitted on the validation faces (the mean negative log-likelihood is minimised);
  T > 1 softens an over-confident model. It never changes a face's answer. It is scored
  on the public and private faces only, never on the split it was fitted on.

Labels of -1 (unknown: the course's test faces) are left out everywhere.
"""

from __future__ import annotations

import math

import numpy as np

from ferflow.errors import DataError
from ferflow.evaluation import stats
from ferflow.evaluation.metrics import EPS, log_loss
from ferflow.io import load_json, load_npz, save_json
from ferflow.outputs import figure, table

OUTPUTS = (  # declarations (ferflow.outputs); write_calibration's JSON is a file (paths)
    table("calibration_table", "tables/calibration.csv", "calibration"),
    figure("reliability", "figures/{name}/reliability.png", "calibration", order=1),
)

BINS = 15  # equal-width confidence bins on [0, 1]
FITTED_ON = "validation"  # the split the temperature is fitted on
SCORED = ("public", "private")  # the splits the scaled probabilities are scored on
LOG_T_BOUNDS = (math.log(0.05), math.log(20.0))  # the temperature's search range (log T)
DRAWS_PER_CHUNK = 4_000_000  # resampled face indices drawn at once (memory: 32 MB)


def _edges(bins: int) -> np.ndarray:
    return np.linspace(0.0, 1.0, bins + 1)


def _faces(probs: np.ndarray, labels: np.ndarray, bins: int):
    """``(bin, correct, confidence)`` of each labelled face (float64; rows renormalised
    to sum to 1, as :func:`ferflow.evaluation.metrics.log_loss` does)."""
    labels = np.asarray(labels)
    known = labels >= 0
    p = np.asarray(probs, np.float64)[known]
    y = labels[known].astype(np.int64)
    if not len(y):
        return np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
    p = p / p.sum(axis=1, keepdims=True)
    conf = p.max(axis=1)
    b = np.clip(np.searchsorted(_edges(bins), conf, side="right") - 1, 0, bins - 1)
    return b, (p.argmax(axis=1) == y).astype(np.float64), conf


def reliability(probs: np.ndarray, labels: np.ndarray, bins: int = BINS) -> dict:
    """The reliability diagram's numbers: ``edges`` (bins + 1), per bin ``count`` (labelled
    faces), ``confidence`` (their mean confidence) and ``accuracy`` (their share correct);
    NaN for an empty bin."""
    b, right, conf = _faces(probs, labels, bins)
    count = np.bincount(b, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(b, weights=conf, minlength=bins) / count
        acc = np.bincount(b, weights=right, minlength=bins) / count
    empty = count == 0
    mean_conf[empty] = np.nan
    acc[empty] = np.nan
    return {"edges": _edges(bins), "count": count.astype(np.int64), "confidence": mean_conf,
            "accuracy": acc}


def ece(probs: np.ndarray, labels: np.ndarray, bins: int = BINS) -> float:
    """The expected calibration error: sum over bins of count / N * |accuracy - mean
    confidence| (= |sum of (correct - confidence)| / N per bin); NaN without labelled
    faces."""
    b, right, conf = _faces(probs, labels, bins)
    if not len(b):
        return float("nan")
    return float(np.abs(np.bincount(b, weights=right - conf, minlength=bins)).sum() / len(b))


def ece_interval(probs: np.ndarray, labels: np.ndarray, bins: int = BINS,
                 resamples: int = stats.RESAMPLES, seed: int = 0,
                 confidence: float = stats.CONFIDENCE) -> tuple[float, float, float]:
    """``(ece, lower, upper)``: the ECE and its percentile bootstrap interval over the
    labelled faces; NaNs without labelled faces.

    Each resample draws N face indices with replacement from ``numpy.random.default_rng(
    seed)``, ``rng.integers(0, N, size=(chunk, N))`` for consecutive chunks of resamples
    (as many as fit :data:`DRAWS_PER_CHUNK` indices), and its ECE is the ECE of those faces,
    computed for all resamples of a chunk with one weighted ``bincount``."""
    b, right, conf = _faces(probs, labels, bins)
    n = len(b)
    if not n:
        return float("nan"), float("nan"), float("nan")
    point = float(np.abs(np.bincount(b, weights=right - conf, minlength=bins)).sum() / n)
    gap = right - conf
    rng = np.random.default_rng(seed)
    chunk = max(1, min(resamples, DRAWS_PER_CHUNK // n))
    values = []
    for start in range(0, resamples, chunk):
        m = min(chunk, resamples - start)
        idx = rng.integers(0, n, size=(m, n))
        keys = (np.arange(m)[:, None] * bins + b[idx]).ravel()
        sums = np.bincount(keys, weights=gap[idx].ravel(), minlength=m * bins)
        values.append(np.abs(sums.reshape(m, bins)).sum(axis=1) / n)
    alpha = stats.level_of(confidence)
    lo, hi = np.quantile(np.concatenate(values), [alpha / 2, 1 - alpha / 2])
    return point, float(lo), float(hi)


# --- temperature scaling -------------------------------------------------------------


def _logits(probs: np.ndarray) -> np.ndarray:
    return np.log(np.clip(np.asarray(probs, np.float64), EPS, 1.0))


def _nll(z: np.ndarray, y: np.ndarray) -> float:
    """Mean negative log-likelihood of softmax(z) at the labels ``y`` (stable)."""
    top = z.max(axis=1, keepdims=True)
    lse = np.log(np.exp(z - top).sum(axis=1)) + top[:, 0]
    return float((lse - z[np.arange(len(y)), y]).mean())


def fit_temperature(probs: np.ndarray, labels: np.ndarray) -> float:
    """The temperature T > 0 that minimises the mean negative log-likelihood of
    softmax(log(clip(p, EPS, 1)) / T) on the labelled faces (a bounded search of log T
    over [log 0.05, log 20]); 1.0 without labelled faces."""
    labels = np.asarray(labels)
    known = labels >= 0
    if not known.any():
        return 1.0
    from scipy.optimize import minimize_scalar

    z = _logits(np.asarray(probs)[known])
    y = labels[known].astype(np.int64)
    res = minimize_scalar(lambda log_t: _nll(z / math.exp(log_t), y), bounds=LOG_T_BOUNDS,
                          method="bounded", options={"xatol": 1e-5})
    return float(math.exp(res.x))


def _check_temperature(temperature) -> float:
    if (isinstance(temperature, bool) or not isinstance(temperature, (int, float, np.number))
            or not math.isfinite(temperature) or temperature <= 0):
        raise DataError(f"a temperature is a positive number, not {temperature!r}")
    return float(temperature)


def scale(probs: np.ndarray, temperature: float) -> np.ndarray:
    """The probabilities at ``temperature``: softmax(log(clip(p, EPS, 1)) / T) per row,
    float32. Rows sum to 1 and every row's answer (argmax) is kept; T == 1 returns the
    probabilities as they are (as float32)."""
    t = _check_temperature(temperature)
    p = np.asarray(probs)
    if t == 1.0:
        return p.astype(np.float32)  # a copy
    z = _logits(p) / t
    e = np.exp(z - z.max(axis=1, keepdims=True))
    out = (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
    # softening can bring two probabilities within float32's rounding of each other: the
    # answer stays the original one (its probability one float32 step up)
    answer = p.argmax(axis=1)
    moved = np.flatnonzero(out.argmax(axis=1) != answer)
    out[moved, answer[moved]] = np.nextafter(out[moved].max(axis=1), np.float32(np.inf))
    return out


# --- a prediction file's calibration ---------------------------------------------------


def _float(v) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


def _listed(r: dict) -> dict:
    """A reliability dict's per-bin lists for JSON (None for an empty bin)."""
    return {"count": [int(c) for c in r["count"]],
            "confidence": [_float(v) for v in r["confidence"]],
            "accuracy": [_float(v) for v in r["accuracy"]]}


def _scores(probs: np.ndarray, labels: np.ndarray, bins: int, e: dict, seed: int,
            suffix: str = "") -> dict:
    value, lo, hi = ece_interval(probs, labels, bins, e["resamples"], seed, e["confidence"])
    return {f"ece{suffix}": _float(value), f"ece{suffix}_lower": _float(lo),
            f"ece{suffix}_upper": _float(hi), f"log_loss{suffix}": log_loss(probs, labels),
            f"reliability{suffix}": _listed(reliability(probs, labels, bins))}


SCORE_KEYS = ("ece", "ece_lower", "ece_upper", "log_loss", "reliability")
SCALED_KEYS = ("ece_scaled", "ece_scaled_lower", "ece_scaled_upper", "log_loss_scaled",
               "reliability_scaled")


def calibration(pred: dict, bins: int = BINS, evidence: dict | None = None) -> dict:
    """The calibration of a prediction file's probabilities (JSON-able).

    Top level: ``temperature`` (fitted on the validation faces; 1.0, with ``fitted_on``
    None, when there are none), ``fitted_on``, ``bins``, ``edges``, and the evidence
    settings (``confidence``, ``resamples``, ``seed``). Per set (validation, public,
    private): ``n`` (labelled faces), ``ece`` with ``ece_lower`` / ``ece_upper``,
    ``log_loss``, ``reliability`` (per-bin ``count``, ``confidence``, ``accuracy``); for
    public and private also the same after scaling (``ece_scaled``, ...,
    ``reliability_scaled``). A set without labelled faces has None for each. The bootstrap
    of a set is seeded with ``(seed, the set's place in stats.SET_NAMES)``; before and
    after scaling resample the same faces."""
    e = {**stats.EVIDENCE, **(evidence or {})}
    fitted = bool((pred[f"{FITTED_ON}_labels"] >= 0).any())
    temperature = fit_temperature(pred[f"{FITTED_ON}_probs"], pred[f"{FITTED_ON}_labels"])
    out = {"temperature": temperature, "fitted_on": FITTED_ON if fitted else None,
           "bins": int(bins), "edges": [float(v) for v in _edges(bins)],
           "confidence": float(e["confidence"]), "resamples": int(e["resamples"]),
           "seed": int(e["seed"])}
    for s in stats.SET_NAMES:
        probs, labels = pred[f"{s}_probs"], pred[f"{s}_labels"]
        n = int((labels >= 0).sum())
        keys = SCORE_KEYS + (SCALED_KEYS if s in SCORED else ())
        row = {"n": n, **dict.fromkeys(keys)}
        if n:
            seed = int(np.random.SeedSequence([e["seed"], stats.SET_NAMES.index(s)])
                       .generate_state(1)[0])
            row.update(_scores(probs, labels, bins, e, seed))
            if s in SCORED and fitted:
                row.update(_scores(scale(probs, temperature), labels, bins, e, seed, "_scaled"))
        out[s] = row
    return out


def write_calibration(pred_path: str, out_json: str, bins: int = BINS,
                      evidence: dict | None = None) -> dict:
    """:func:`calibration` of a prediction file (.npz), written as JSON; returned."""
    out = calibration(load_npz(pred_path), bins, evidence)
    save_json(out_json, out)
    return out


def _load(calibration_json: str) -> dict:
    import json

    try:
        data = load_json(calibration_json)
    except json.JSONDecodeError as exc:
        raise DataError(f"{calibration_json}: not JSON ({exc.msg}, line {exc.lineno})") from exc
    if not isinstance(data, dict):
        raise DataError(f"{calibration_json}: not a calibration file (no JSON object)")
    return data


def load_temperature(calibration_json: str) -> float:
    """The temperature of a calibration file (:func:`write_calibration`)."""
    t = _load(calibration_json).get("temperature")
    if (isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t)
            or t <= 0):
        raise DataError(f"{calibration_json}: 'temperature' is missing or not a positive "
                        f"number ({t!r})")
    return float(t)


# --- the reliability figure ----------------------------------------------------------


def _array(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def interval_text(value, lower, upper) -> str:
    """``0.052 [0.041, 0.064]`` ("–" without a value; the value alone without its ends)."""
    if value is None:
        return "–"
    if lower is None or upper is None:
        return f"{value:.3f}"
    return f"{value:.3f} [{lower:.3f}, {upper:.3f}]"


def _panel(fig, cell, edges: np.ndarray, rel: dict, heading: str, ece_text: str) -> None:
    """A reliability diagram in ``cell`` (a gridspec cell): accuracy bars against the
    diagonal, the gap to each bin's mean confidence hatched red, the faces per bin
    beneath."""
    inner = cell.subgridspec(2, 1, height_ratios=[3, 1], hspace=0.05)
    ax = fig.add_subplot(inner[0])
    below = fig.add_subplot(inner[1], sharex=ax)
    left, width = edges[:-1], np.diff(edges)
    acc, conf = _array(rel["accuracy"]), _array(rel["confidence"])
    count = np.asarray(rel["count"], dtype=np.int64)
    full = count > 0
    ax.bar(left[full], acc[full], width[full], align="edge", color="C0", edgecolor="white",
           label="accuracy of the bin's faces")
    ax.bar(left[full], np.abs(acc - conf)[full], width[full], bottom=np.minimum(acc, conf)[full],
           align="edge", facecolor=(0.84, 0.15, 0.16, 0.25), edgecolor="C3", hatch="//",
           linewidth=0.8, label="gap to the bin's mean confidence")
    ax.plot([0, 1], [0, 1], "--", color="0.35", lw=1.2, label="perfect calibration")
    ax.set(xlim=(0, 1), ylim=(0, 1), ylabel="accuracy")
    ax.set_title(f"{heading}\n{ece_text}", fontsize=10)
    ax.tick_params(labelbottom=False)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    below.bar(left, count, width, align="edge", color="0.55", edgecolor="white")
    for x, w, c in zip(left[full], width[full], count[full]):
        below.text(x + w / 2, c, str(c), ha="center", va="bottom", fontsize=6.5)
    below.set(xlabel="confidence (top-class probability)", ylabel="faces")
    below.set_ylim(0, max(1, count.max()) * 1.3)
    below.grid(alpha=0.3, axis="y")


def reliability_figure(calibration_json: str, out_png: str, title: str,
                       eval_set: str = "private") -> None:
    """The reliability diagram of ``eval_set`` from a calibration file: before and after
    temperature scaling side by side; only before for the split the temperature was
    fitted on (validation)."""
    from ferflow.evaluation.plots import pyplot, save

    data = _load(calibration_json)

    def labelled(name):
        row = data.get(name) if name in stats.SET_NAMES else None
        return isinstance(row, dict) and row.get("n") and row.get("reliability") is not None

    if not labelled(eval_set) and eval_set != FITTED_ON and labelled(FITTED_ON):
        eval_set = FITTED_ON  # test faces without labels (a course's test.csv): validation's
    if not labelled(eval_set):
        raise DataError(f"{calibration_json}: no labelled {eval_set} faces to draw")
    row = data[eval_set]
    edges = np.asarray(data["edges"], dtype=np.float64)
    pct = f"{100 * data.get('confidence', stats.CONFIDENCE):g}%"
    panels = [("before temperature scaling", row["reliability"], interval_text(
        row["ece"], row["ece_lower"], row["ece_upper"]))]
    t = data.get("temperature")
    if eval_set == data.get("fitted_on"):
        panels[0] = (f"before temperature scaling (T = {t:.2f} was fitted on {eval_set}:\n"
                     "the scaled probabilities are not scored on the split it was fitted on)",
                     *panels[0][1:])
    elif row.get("reliability_scaled") is not None:
        panels.append((f"after temperature scaling (T = {t:.2f}, fitted on "
                       f"{data.get('fitted_on')})", row["reliability_scaled"], interval_text(
                           row["ece_scaled"], row["ece_scaled_lower"], row["ece_scaled_upper"])))
    plt = pyplot()
    fig = plt.figure(figsize=(11.6 if len(panels) == 2 else 7.2, 6.6), dpi=110,
                     layout="constrained")
    grid = fig.add_gridspec(1, len(panels))
    for cell, (heading, rel, text) in zip(grid, panels):
        _panel(fig, cell, edges, rel, heading, f"ECE {text} ({pct} interval)")
    fig.suptitle(f"{title}: reliability on the {eval_set} set\n(n = {row['n']} faces, "
                 f"{data.get('bins', len(edges) - 1)} equal-width confidence bins)")
    save(fig, out_png)


# --- the calibration table -------------------------------------------------------------


TABLE_SETS = SCORED
TABLE_COLUMNS = (["name", "temperature"]
                 + [f"{s}_{k}" for s in TABLE_SETS
                    for k in ("ece", "ece_lower", "ece_upper", "ece_scaled", "ece_scaled_lower",
                              "ece_scaled_upper", "log_loss", "log_loss_scaled", "n")]
                 + ["bins", "confidence", "resamples"])


def calibration_table(layout: dict, out_csv: str, out_md: str, eval_set: str = "private"):
    """``layout``: ``{name: calibration_json}`` (runs and ensembles). One row per name:
    its temperature and, for public and private, the ECE with its interval and the
    log-loss before and after scaling, and the number of faces; written as CSV with its
    Markdown twin (``eval_set``: the set the Markdown table shows first). Returns the
    DataFrame."""
    import pandas as pd

    from ferflow.evaluation.tables import write_table

    _check_eval_set(eval_set)
    rows = []
    for name, path in layout.items():
        data = _load(path)
        row = {"name": name, "temperature": data.get("temperature"), "bins": data.get("bins"),
               "confidence": data.get("confidence"), "resamples": data.get("resamples")}
        for s in TABLE_SETS:
            scores = data.get(s) or {}
            for k in TABLE_COLUMNS:
                if k.startswith(f"{s}_"):
                    row[k] = scores.get(k[len(s) + 1:])
        rows.append(row)
    df = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    write_table(df, out_csv, calibration_blocks(df, eval_set), out_md)
    return df


def _check_eval_set(eval_set: str) -> None:
    if eval_set not in TABLE_SETS:
        from ferflow.errors import ConfigError

        raise ConfigError(f"calibration is scored on {' or '.join(TABLE_SETS)} (the temperature "
                          f"is fitted on {FITTED_ON}), not on {eval_set!r}")


def calibration_blocks(df, eval_set: str = "private") -> list[tuple]:
    """The calibration table (its CSV's rows) for reading."""
    from ferflow.evaluation.tables import missing, number_cell

    _check_eval_set(eval_set)
    rows = df.to_dict("records")

    def setting(key, default):
        values = {r[key] for r in rows if not missing(r.get(key))}
        return values.pop() if len(values) == 1 else default

    bins = int(setting("bins", BINS))
    pct = f"{100 * setting('confidence', stats.CONFIDENCE):g}%"
    resamples = int(setting("resamples", stats.RESAMPLES))
    blocks = [("heading", 1, "Calibration"),
              ("text", f"ECE (expected calibration error): the faces are put in {bins} "
                       "equal-width bins of their confidence (the top-class probability), and "
                       "ECE is the faces-weighted mean gap between each bin's accuracy and its "
                       f"mean confidence (0 for a calibrated model), with its {pct} percentile "
                       f"bootstrap interval over faces ({resamples:,} resamples). ECE is never "
                       "negative and resampling adds to it, so an interval can lie above its "
                       "estimate. Temperature scaling divides the log-probabilities by one "
                       f"temperature T fitted on the {FITTED_ON} faces (the one that minimises "
                       "their log-loss; T > 1 softens the probabilities, T < 1 sharpens them; "
                       "no answer changes) and is scored on the public and private faces "
                       "only, never on the split it was fitted on. Before and after are "
                       "measured on the same faces, so their two intervals are not "
                       "independent; no paired test of the change is computed here.")]
    if not rows:
        return blocks + [("text", "No models.")]
    order = [eval_set] + [s for s in TABLE_SETS if s != eval_set]

    def faces(s):
        counts = sorted({int(r[f"{s}_n"]) for r in rows if not missing(r.get(f"{s}_n"))})
        return f"{s} " + ("/".join(map(str, counts)) or "–")

    blocks.append(("text", f"Labelled faces: {', '.join(faces(s) for s in order)}."))

    def interval(r, key):
        return ("–" if missing(r.get(key)) else
                f"{r[key]:.3f}" + ("" if missing(r.get(f"{key}_lower")) else
                                   f" [{r[f'{key}_lower']:.3f}, {r[f'{key}_upper']:.3f}]"))

    header = ["model", "T"] + [h for s in order for h in (
        f"{s} ECE", f"{s} ECE at T", f"{s} log-loss", f"{s} log-loss at T")]
    body = [[r["name"], number_cell(r.get("temperature"), 2)]
            + [c for s in order for c in (interval(r, f"{s}_ece"), interval(r, f"{s}_ece_scaled"),
                                          number_cell(r.get(f"{s}_log_loss")),
                                          number_cell(r.get(f"{s}_log_loss_scaled")))]
            for r in rows]
    return blocks + [("table", header, body)]
