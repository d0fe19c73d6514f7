"""One self-contained HTML page that answers, in order, the questions of the seed reports.

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
from ferflow.io import atomic_path, data_digest

# The report's sections in order: id -> numbered title. The HTML page and the Snakemake
# report's categories (workflow/rules/*.smk) both take them from here.
SECTIONS = {
    "architectures": "1. Architectures",
    "curves": "2. Training curves",
    "accuracy": "3. Accuracy of every model and ensemble",
    "ablations": "4. Ablations",
    "cnn-vs-dnn": "5. CNN vs DNN",
    "ensembles": "6. Ensembles",
    "confusion": "7. Confusion matrices",
    "saliency": "8. Saliency",
    "filters": "9. Gradient-ascent filter images",
    "layer-outputs": "10. Layer outputs",
    "lime": "11. LIME",
    "explanations": "12. Explanations, scored for faithfulness",
    "keract": "13. keract activations",
}

PACKAGES = ("ferflow", "snakemake", "tensorflow", "tensorflow-cpu", "keras", "numpy", "pandas",
            "scikit-learn", "scikit-image", "matplotlib", "lime", "keract")

# broken images and script errors are made visible (and testable in a headless browser)
CHECK_SCRIPT = """
window.addEventListener('load', function () {
  var broken = Array.prototype.filter.call(document.images, function (im) {
    return !(im.complete && im.naturalWidth > 0); });
  document.documentElement.setAttribute('data-images', document.images.length);
  document.documentElement.setAttribute('data-broken-images', broken.length);
  if (broken.length) {
    var p = document.createElement('p'); p.className = 'warn';
    p.textContent = broken.length + ' image(s) failed to load';
    document.body.insertBefore(p, document.body.firstChild);
  }
});
"""

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1180px;margin:auto;
padding:0 1.2em 3em;color:#1d1d1f;line-height:1.45}
h1{margin-top:1em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:.86em}
th,td{border:1px solid #ccc;padding:.25em .55em;text-align:right}
th{background:#f2f2f2}td:first-child,th:first-child{text-align:left}
img{max-width:100%;height:auto;border:1px solid #eee;margin:.3em 0}
figure{margin:.8em 0 1.6em}figcaption{font-size:.9em;color:#555}
pre{background:#f7f7f7;padding:.6em;overflow-x:auto;font-size:.78em}
nav ol{columns:2}.thumbs img{width:32%;min-width:260px}.warn{color:#b00;font-weight:bold}
.muted{color:#666;font-size:.9em}
"""


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


def _table(csv_path: str, blocks_fn, *args) -> str:
    """The HTML of a table, from its CSV file."""
    import pandas as pd

    return blocks_to_html(blocks_fn(pd.read_csv(csv_path), *args))


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


def _section(sid: str, title: str, body: str) -> str:
    return f'<section id="{sid}"><h2>{_esc(title)}</h2>\n{body}\n</section>'


def _layer_files(directory: str) -> list[str]:
    """keract's PNGs in layer order ("2_conv1.png" before "10_pool3.png")."""
    files = [f for f in os.listdir(directory) if f.endswith(".png")]
    return sorted(files, key=lambda f: (int(f.split("_")[0]) if f.split("_")[0].isdigit()
                                        else -1, f))


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def build_report(layout: dict, out_html: str) -> dict:
    """``layout`` keys (paths are files the workflow built):

    ``title``; ``models`` {group: {"summary", "curves": {run: png}, "cards": {run: md}}}; ``tables``
    {"accuracy", "ensembles": csv}; ``ablations`` {name: csv}; ``comparisons`` {name:
    {"table": csv, "pairs": csv, "curves": png}}; ``confusion`` {name: {"png", "counts"}};
    ``analysis`` {kind: {model: png or directory of keract PNGs}};
    ``captions`` {name: text of workflow/report/<name>.rst} (:func:`caption`);
    ``provenance`` {"data": [paths], "config": yaml text, "commit": str}; ``context``
    {"eval_set": str, "ablations": {name: {"base", "design"}}} (what the tables' CSV
    files do not say).
    Returns ``{"sections": [...], "images": n}``.
    """
    import pandas as pd

    from ferflow.evaluation.tables import (
        ablation_blocks,
        accuracy_blocks,
        comparison_blocks,
        ensemble_blocks,
        not_learned,
        pairs_blocks,
    )

    context = layout["context"]
    captions = layout["captions"]
    parts, sections = [], []
    # models whose validation accuracy is not clear of the commonest class's rate: said
    # next to each of their figures
    flagged = set(not_learned(pd.read_csv(layout["tables"]["accuracy"])))

    group_of = {run: g for g, m in layout["models"].items() for run in m["curves"]}

    def warn(name: str) -> str:
        if name not in flagged and group_of.get(name) not in flagged:
            return ""
        return (f'<p class="warn">{_esc(name)} did not learn: its validation accuracy interval '
                "reaches the rate of always answering the commonest class (accuracy table). "
                "Its figures show an untrained model.</p>")

    def add(sid, body, title=None):
        title = title or SECTIONS[sid]
        sections.append((sid, title))
        parts.append(_section(sid, title, body))

    # 1. architectures
    body = ['<p>Each model\'s layer table (Keras summary of the trained model: layer, '
            'output shape, parameters; click a model to open it). The tables\' parameter '
            'counts are trainable + non-trainable (BatchNorm statistics); the summary\'s '
            '"Total params" also counts the optimizer\'s state.</p>']
    for name, m in layout["models"].items():
        summary = _read(m["summary"])
        counts = [re.search(rf"{k} params: ([\d,]+)", summary) for k in ("Trainable", "Non-trainable")]
        what = " + ".join(f"{m.group(1)} {k}" for m, k in zip(counts, ("trainable", "non-trainable"))
                          if m)
        cards = ", ".join(
            f'<a href="{_esc(os.path.relpath(card, os.path.dirname(os.path.abspath(out_html))))}">'
            f"{_esc(run)}</a>" for run, card in m.get("cards", {}).items())
        body.append(f"<details><summary><b>{_esc(name)}</b>{' — ' + what if what else ''}"
                    f"</summary><pre>{_esc(summary)}</pre></details>"
                    + (f"<p>Model card{'s' if len(m.get('cards', {})) > 1 else ''} (data, "
                       f"settings, accuracies, known limits, intended use): {cards}</p>"
                       if cards else ""))
    add("architectures", "\n".join(body))
    # 2. training curves
    body = [warn(run) + figure(png, caption(captions, "training_curves", run=run), 1100)
            for m in layout["models"].values() for run, png in m["curves"].items()]
    add("curves", "\n".join(body))
    # 3. accuracy
    add("accuracy",
        _table(layout["tables"]["accuracy"], accuracy_blocks, context["eval_set"]))
    # 4. ablations
    body = [f"<h3>{_esc(name)}</h3>" + _table(csv, ablation_blocks, name,
                                              context["ablations"][name]["base"],
                                              context["ablations"][name]["design"])
            for name, csv in layout["ablations"].items()]
    add("ablations", "\n".join(body) or "<p>No ablation configured.</p>")
    # 5. comparisons (CNN vs DNN)
    body = []
    for name, c in layout["comparisons"].items():
        title = name.replace("_", " ")
        body.append(f"<h3>{_esc(title)}</h3>" + _table(c["table"], comparison_blocks, title)
                    + _table(c["pairs"], pairs_blocks))
        body.append(figure(c["curves"], caption(captions, "validation_curves", comparison=name),
                           1100))
    add("cnn-vs-dnn", "\n".join(body) or "<p>No comparison configured.</p>")
    # 6. ensembles
    body = [_table(layout["tables"]["ensembles"], ensemble_blocks)]
    add("ensembles", "\n".join(body))
    # 7. confusion matrices, with the most-confused pairs named from the data
    body = []
    for name, c in layout["confusion"].items():
        pairs = confused_pairs(c["counts"])
        named = "; ".join(f"{t} predicted as {p} ({r:.0%} of {t}, {n} faces)"
                          for t, p, r, n in pairs) or "no confusion"
        body.append(f"<h3>{_esc(name)}</h3>{warn(name)}<p>Most confused: {_esc(named)}.</p>")
        body.append(figure(c["png"], caption(captions, "confusion", name=name), 800))
    add("confusion", "\n".join(body))
    # 8-13. explanations
    kinds = {  # layout key: (section id, caption name, its second wildcard)
        "saliency": ("saliency", "saliency", {}),
        "filters_noise": ("filters", "filters", {"start": "noise"}),
        "filters_image": ("filters", "filters", {"start": "image"}),
        "layer_outputs": ("layer-outputs", "layer_outputs", {}),
        "lime": ("lime", "lime", {}),
        "explanations": ("explanations", "explanations", {}),
        "keract_heatmaps": ("keract", "keract", {"view": "heatmaps"}),
        "keract_activations": ("keract", "keract", {"view": "activations"}),
    }
    bodies = {sid: [] for sid, _, _ in kinds.values()}
    for key, (sid, name, extra) in kinds.items():
        for model, path in layout["analysis"].get(key, {}).items():
            text = caption(captions, name, run=model, **extra)
            if os.path.isdir(path):
                bodies[sid].append(f"<h3>{_esc(model)}</h3>{warn(model)}<p>{_esc(text)}</p>"
                                   "<div class='thumbs'>"
                                   + "".join(image_tag(os.path.join(path, f), f"{model} {f}", 420)
                                             for f in _layer_files(path)) + "</div>")
            else:
                bodies[sid].append(warn(model) + figure(path, text, 1100))
    if "explanations" in layout["tables"]:  # the scores first, then each run's figure
        from ferflow.explanations.table import explanation_blocks

        e = context["explanations"]
        bodies["explanations"].insert(0, _table(layout["tables"]["explanations"],
                                                explanation_blocks, e["max_rank_correlation"],
                                                e["evidence"]["confidence"]))
    for sid, body in bodies.items():
        add(sid, "\n".join(body) or "<p>Not configured.</p>")
    # provenance
    prov = layout["provenance"]
    faces = prov["data"][-1]  # faces.npz: it records a folder data set's digest
    rows = "".join(f"<tr><td>{_esc(p)}</td><td><code>{data_digest(p, faces)}</code></td></tr>"
                   for p in prov["data"])
    pk = "".join(f"<tr><td>{_esc(k)}</td><td>{_esc(v)}</td></tr>"
                 for k, v in package_versions().items())
    add("provenance", title="Provenance", body=
        f"<p>git commit: <code>{_esc(prov['commit'])}</code></p>"
        f"<h3>Data (sha256)</h3><table><tr><th>file</th><th>sha256</th></tr>{rows}</table>"
        f"<h3>Packages</h3><table><tr><th>package</th><th>version</th></tr>{pk}</table>"
        f"<h3>Config</h3><pre>{_esc(prov['config'])}</pre>")
    nav = "<nav><ol>" + "".join(f'<li><a href="#{s}">{_esc(t)}</a></li>'
                                for s, t in sections) + "</ol></nav>"
    page = (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{_esc(layout['title'])}</title><style>{STYLE}</style>"
            f"<script>{CHECK_SCRIPT}</script></head><body>"
            f"<h1>{_esc(layout['title'])}</h1><p class=\"muted\">Classes: "
            f"{_esc(', '.join(CLASS_NAMES))}. Every number and figure below is a file under "
            f"results/; this page is rebuilt when any of them changes.</p>{nav}"
            + "\n".join(parts) + "</body></html>\n")
    with atomic_path(out_html, ".html") as tmp, open(tmp, "w") as f:
        f.write(page)
    return {"sections": [s for s, _ in sections], "images": page.count("<img ")}
