"""One self-contained HTML page: its findings first, then the questions of the seed reports in
their order (the sections of :mod:`ferflow.outputs`), drawn from ``report.html.j2``.

Every image is embedded (base64; keract's large per-layer figures downscaled), so the
page can be mailed or archived on its own. Its inputs are described by a *layout*
(names and file paths, built by the workflow); see :func:`build_report`.
"""

from __future__ import annotations

import base64
import html
import io
import os
import re

import numpy as np

from ferflow import CLASS_NAMES
from ferflow.explanations.attribution import LABELS
from ferflow.io import atomic_path, data_digest
from ferflow.pipeline.paths import markdown

PACKAGES = ("ferflow", "snakemake", "tensorflow", "tensorflow-cpu", "keras", "numpy", "pandas",
            "scikit-learn", "scikit-image", "matplotlib", "lime", "keract")

def _esc(text) -> str:
    return html.escape(str(text))


JPEG_ABOVE = 120_000  # bytes: larger PNGs (noise-like filter images) are embedded as JPEG


def image_tag(path: str, alt: str, max_width: int | None = None) -> str:
    """An <img> with the image embedded: downscaled to ``max_width`` pixels when wider,
    re-encoded as JPEG (quality 85) when the PNG is larger than ``JPEG_ABOVE``."""
    with open(path, "rb") as f:
        data = f.read()
    mime = "image/png"
    from PIL import Image

    img = Image.open(io.BytesIO(data))
    if (max_width and img.width > max_width) or len(data) > JPEG_ABOVE:
        img = img.convert("RGB")
        if max_width and img.width > max_width:
            img = img.resize((max_width, round(img.height * max_width / img.width)),
                             Image.LANCZOS)
        buf = io.BytesIO()
        img.save(buf, format="PNG", optimize=True)
        if buf.tell() > JPEG_ABOVE:
            buf = io.BytesIO()
            img.save(buf, format="JPEG", quality=85)
            mime = "image/jpeg"
        data = buf.getvalue()
    return (f'<img alt="{_esc(alt)}" src="data:{mime};base64,'
            f'{base64.b64encode(data).decode("ascii")}">')


def caption(captions: dict, which: str, /, **wildcards) -> str:
    """The caption ``which`` (a ``workflow/report/<which>.rst`` text, the one home of the
    captions, which Snakemake's report shows too) with its wildcards (``run``, ``name``,
    ``start``, ...) filled in and its inline markup dropped."""
    text = re.sub(r"\{\{\s*snakemake\.wildcards\.(\w+)\s*\}\}",
                  lambda m: str(wildcards[m.group(1)]), captions[which])
    return " ".join(text.replace("``", "").split())


def figure(path: str, caption: str, max_width: int | None = None) -> str:
    return (f"<figure>{image_tag(path, caption, max_width)}"
            f"<figcaption>{_esc(caption)}</figcaption></figure>")


def blocks_to_html(blocks: list[tuple]) -> str:
    """A table's readable blocks (see :mod:`ferflow.evaluation.tables`) as HTML: the first-level
    heading left out (the section has its own title), paragraphs with *emphasis*."""
    def inline(text):
        return re.sub(r"\*([^*]+)\*", r"<em>\1</em>", _esc(text))

    out = []
    for b in blocks:
        if b[0] == "heading" and b[1] > 1:
            out.append(f"<h{b[1] + 2}>{inline(b[2])}</h{b[1] + 2}>")
        elif b[0] == "text":
            out.append(f"<p>{inline(b[1])}</p>")
        elif b[0] == "table":
            out.append("<table><thead><tr>" + "".join(f"<th>{inline(c)}</th>" for c in b[1])
                       + "</tr></thead><tbody>"
                       + "".join("<tr>" + "".join(f"<td>{inline(c)}</td>" for c in r) + "</tr>"
                                 for r in b[2]) + "</tbody></table>")
    return "\n".join(out)


def confused_pairs(counts_csv: str, top: int = 3) -> list[tuple[str, str, float, int]]:
    """The most confused (true, predicted) pairs: off-diagonal rates per true class."""
    import pandas as pd

    from ferflow.evaluation.metrics import rates as per_true_class

    df = pd.read_csv(counts_csv, index_col=0)
    counts = df.to_numpy(dtype=float)
    rates = per_true_class(counts)
    np.fill_diagonal(rates, -1)
    # stable: equal rates keep row-major order (the first is np.argmax's)
    order = np.argsort(-rates, axis=None, kind="stable")[:top]
    pairs = [(df.index[i], df.columns[j], float(rates[i, j]), int(counts[i, j]))
             for i, j in zip(*np.unravel_index(order, rates.shape)) if rates[i, j] > 0]
    return pairs


def package_versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for p in PACKAGES:
        try:
            out[p] = version(p)
        except PackageNotFoundError:
            pass
    return out


def _layer_files(directory: str) -> list[str]:
    """keract's PNGs in layer order ("2_conv1.png" before "10_pool3.png")."""
    files = [f for f in os.listdir(directory) if f.endswith(".png")]
    return sorted(files, key=lambda f: (int(f.split("_")[0]) if f.split("_")[0].isdigit()
                                        else -1, f))


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def _csv(path: str):
    import pandas as pd

    return pd.read_csv(path)


def findings(layout: dict) -> dict:
    """What the page says first, read from the tables: the best model (chosen on
    validation) with its interval on the evaluation set, every paired verdict that is not
    within noise (and how many are), the models that did not learn, and the best model's
    calibration."""
    from ferflow.evaluation.tables import SETS, comparison_cell, missing, not_learned

    f, eval_set = layout["findings"], layout["eval_set"]
    short = SETS.get(eval_set, "private")
    acc = _csv(f["accuracy"])
    known = acc[acc["val_acc"].notna()]
    out = {"eval_set": eval_set, "not_learned": not_learned(acc), "verdicts": [],
           "within_noise": 0, "best": None, "calibration": None}
    if len(known):
        r = known.loc[known["val_acc"].idxmax()]
        out["best"] = {"name": r["name"], "val": _interval(r, "val"),
                       "eval": _interval(r, short), "eval_short": short}
    pairs = []  # (B, A, row, the table it is from)
    ens = _csv(f["ensembles"])
    pairs += [(r["name"], r["best_member"], r, "ensembles") for _, r in ens.iterrows()]
    for name, a in f["ablations"].items():
        pairs += [(r["model"], a["base"], r, f"ablation {name}")
                  for _, r in _csv(a["table"]).iterrows()]
    for name, path in f["comparisons"].items():
        pairs += [(r["b"], r["a"], r, f"comparison {name}") for _, r in _csv(path).iterrows()]
    for b, a, r, table in pairs:
        verdict = r.get(f"{short}_verdict")
        if missing(verdict):
            continue
        if verdict == "within noise":
            out["within_noise"] += 1
        else:
            out["verdicts"].append({"b": b, "a": a, "table": table,
                                    "cell": comparison_cell(dict(r), short)})
    if out["best"] and os.path.exists(f["calibration"]):
        cal = _csv(f["calibration"]).set_index("name")
        name = out["best"]["name"]
        # scored where the temperature was not fitted: the private faces for validation
        scored = eval_set if eval_set in ("public", "private") else "private"
        if name in cal.index and not missing(cal.loc[name].get(f"{scored}_ece")):
            c = cal.loc[name]
            out["calibration"] = {
                "name": name, "set": scored, "temperature": f"{c['temperature']:.2f}",
                "before": _ece(c, scored, ""), "after": _ece(c, scored, "_scaled")}
    return out


def _interval(row, short: str) -> str:
    from ferflow.evaluation.tables import missing

    v = row.get(f"{short}_acc")
    if missing(v):
        return "–"
    lo, hi = row.get(f"{short}_acc_lower"), row.get(f"{short}_acc_upper")
    return f"{v:.3f}" + ("" if missing(lo) else f" [{lo:.3f}, {hi:.3f}]")


def _ece(row, eval_set: str, which: str) -> str:
    from ferflow.evaluation.calibration import interval_text

    key = f"{eval_set}_ece{which}"
    return interval_text(row[key], row[f"{key}_lower"], row[f"{key}_upper"])


def _item_html(item: dict, captions: dict, warn) -> str:
    """One declared figure or table of a section, as HTML."""
    text = caption(captions, item["caption"], **item["wildcards"])
    name = item["heading"]
    if item["kind"] == "table":
        from ferflow.evaluation.tables import from_markdown

        return blocks_to_html(from_markdown(_read(markdown(item["path"]))))
    if item["kind"] == "figures":
        path = item["path"]
        return (f"{warn(name)}<p>{_esc(text)}</p><div class='thumbs'>"
                + "".join(image_tag(os.path.join(path, f), f"{name} {f}", 420)
                          for f in _layer_files(path)) + "</div>")
    note = ""
    if "counts" in item:
        pairs = confused_pairs(item["counts"])
        named = "; ".join(f"{t} predicted as {p} ({r:.0%} of {t}, {n} faces)"
                          for t, p, r, n in pairs) or "no confusion"
        note = f"<p>Most confused: {_esc(named)}.</p>"
    return warn(name) + note + figure(item["path"], text, 1100)


def _architectures(layout: dict, out_html: str) -> list[dict]:
    out = []
    for name, m in layout["models"].items():
        summary = _read(m["summary"])
        counts = [re.search(rf"{k} params: ([\d,]+)", summary)
                  for k in ("Trainable", "Non-trainable")]
        what = " + ".join(f"{c.group(1)} {k}" for c, k in zip(counts, ("trainable", "non-trainable"))
                          if c)
        here = os.path.dirname(os.path.abspath(out_html))
        out.append({"name": name, "what": what, "summary": summary,
                    "cards": {run: os.path.relpath(card, here) for run, card in m["cards"].items()}})
    return out


# what an ONNX model is not explained by (ferflow.pipeline.plan.Plan.left_out), in words
LEFT_OUT = {"saliency": "saliency maps", "filters": "filter images (gradient ascent)",
            "layer_outputs": "layer outputs", "keract": "keract activations",
            "explanations": "the attribution maps"}


def build_report(layout: dict, out_html: str) -> dict:
    """The page, drawn from ``report.html.j2`` (its order is read there). ``layout``
    (:func:`ferflow.pipeline.layouts.report_layout`; paths are files the workflow built):
    ``title``; ``models`` {model: {"summary", "cards": {run: md}}}; ``groups`` {run:
    model}; ``sections`` [{"id", "items": [{"key", "kind", "path", "caption", "wildcards",
    "heading"}]}]; ``findings`` (the files :func:`findings` reads); ``captions`` {name:
    text of workflow/report/<name>.rst}; ``provenance`` {"data", "config", "commit"};
    ``eval_set``; ``left_out`` {run: analyses and methods it does not get}; ``pages``
    {run: its browser page's folder}. Returns ``{"sections": [...], "images": n}``."""
    import jinja2

    from ferflow.outputs import section_title

    captions = layout["captions"]
    found = findings(layout)
    flagged = set(found["not_learned"])
    groups = layout["groups"]

    def warn(name) -> str:
        if name is None or (name not in flagged and groups.get(name) not in flagged):
            return ""
        return (f'<p class="warn">{_esc(name)} did not learn: its validation accuracy interval '
                "reaches the rate of always answering the commonest class (accuracy table). "
                "Its figures show an untrained model.</p>")

    sections = []
    for s in layout["sections"]:
        blocks, heading = [], None
        for item in s["items"]:  # an instance's outputs under one heading of its name
            new = item["heading"] != heading and item["heading"] is not None
            blocks.append((f"<h3>{_esc(item['heading'])}</h3>" if new else "")
                          + _item_html(item, captions, warn))
            heading = item["heading"]
        sections.append({"id": s["id"], "title": section_title(s["id"]), "html": blocks})
    prov = layout["provenance"]
    faces = prov["data"][-1]  # faces.npz: it records a folder data set's digest
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("ferflow.pipeline", "."),
        autoescape=jinja2.select_autoescape(["html", "j2"]), trim_blocks=True,
        lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    page = env.get_template("report.html.j2").render(
        title=layout["title"], classes=", ".join(CLASS_NAMES), findings=found,
        left_out={run: [LEFT_OUT.get(w) or LABELS[w] for w in what]
                  for run, what in layout.get("left_out", {}).items()},
        pages={run: os.path.relpath(os.path.abspath(os.path.join(page, "index.html")),
                                    os.path.dirname(os.path.abspath(out_html)))
               for run, page in layout.get("pages", {}).items()},
        architectures=_architectures(layout, out_html), sections=sections,
        architectures_title=section_title("architectures"),
        commit=prov["commit"], config=prov["config"],
        data=[(p, data_digest(p, faces)) for p in prov["data"]],
        packages=package_versions())
    with atomic_path(out_html, ".html") as tmp, open(tmp, "w") as f:
        f.write(page)
    ids = ["findings", "architectures", *[s["id"] for s in sections], "provenance"]
    return {"sections": ids, "images": page.count("<img ")}
