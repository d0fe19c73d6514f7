"""The HTML report's building blocks (the page itself is tested on a workflow run in
test_workflow.py, in a headless browser too)."""

import base64
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from ferflow.pipeline.report import _layer_files, blocks_to_html, confused_pairs, image_tag

ROOT = Path(__file__).resolve().parents[1]


def test_table_blocks_as_html_headings_and_escaping():
    blocks = [("heading", 1, "Title"), ("text", "Some *text* with <b>."),
              ("heading", 2, "Part"), ("table", ["name", "acc"], [["a<b", "0.5"], ["c", "*0.7*"]]),
              ("text", "After.")]
    out = blocks_to_html(blocks)
    assert "Title" not in out  # the page has its own section titles
    assert "<p>Some <em>text</em> with &lt;b&gt;.</p>" in out
    assert "<h4>Part</h4>" in out
    assert ("<table><thead><tr><th>name</th><th>acc</th></tr></thead><tbody>"
            "<tr><td>a&lt;b</td><td>0.5</td></tr><tr><td>c</td><td><em>0.7</em></td></tr>"
            "</tbody></table>") in out
    assert out.endswith("<p>After.</p>")


def test_report_tables_are_their_markdown_twins(tmp_path):
    """The page shows a table as its .md file reads (written from the CSV's rows): the
    Markdown parsed back into the same blocks."""
    from ferflow.evaluation.tables import accuracy_blocks, from_markdown, to_markdown

    df = pd.DataFrame({"name": ["m"], "entry": ["model"], "family": ["CNN"], "runs": [2],
                       "params": [1234], "epochs": [3], "train_seconds": [5.0],
                       "val_acc": [0.61234], "val_acc_std": [0.01], "public_acc": [0.5],
                       "private_acc": [0.4], "val_log_loss": [1.2], "val_acc_lower": [0.55],
                       "val_acc_upper": [0.67], "val_baseline": [0.25], "did_not_learn": [False],
                       "machine": ["Some CPU (AVX2); oneDNN on; 2 threads; no GPU"]})
    blocks = accuracy_blocks(df, "public")
    as_text = [b if b[0] != "table" else ("table", b[1], [[str(c) for c in r] for r in b[2]])
               for b in blocks]  # a cell is text once written
    assert from_markdown(to_markdown(blocks)) == as_text
    html = blocks_to_html(from_markdown(to_markdown(blocks)))
    assert "<td>m</td><td>CNN</td><td>2</td><td>1,234</td>" in html
    assert "<td>0.612 ± 0.010 [0.550, 0.670]</td>" in html
    assert "<h4>Per-class recall (public set)</h4>" in html
    assert "Trained on: Some CPU (AVX2); oneDNN on; 2 threads; no GPU." in html
    md = to_markdown(accuracy_blocks(df, "public"))
    assert ("| m | CNN | 2 | 1,234 | 3 | 5 | 0.612 ± 0.010 [0.550, 0.670] | 0.500 | 0.400 | yes "
            "| – | 1.200 |") in md


def test_most_confused_pairs_are_rates_per_true_class(tmp_path):
    counts = pd.DataFrame([[8, 2, 0], [1, 1, 0], [0, 3, 7]],
                          index=["angry", "fear", "happy"], columns=["angry", "fear", "happy"])
    counts.to_csv(tmp_path / "c.csv")
    pairs = confused_pairs(str(tmp_path / "c.csv"), top=3)
    # fear->angry is 1 face but half of fear; happy->fear 3 faces, 30 %; angry->fear 20 %
    assert pairs == [("fear", "angry", 0.5, 1), ("happy", "fear", 0.3, 3),
                     ("angry", "fear", 0.2, 2)]
    ties = pd.DataFrame([[3, 1, 1], [1, 3, 1], [1, 1, 3]], index=counts.index, columns=counts.columns)
    ties.to_csv(tmp_path / "t.csv")  # every off-diagonal rate is 0.2: row-major order
    assert [p[:2] for p in confused_pairs(str(tmp_path / "t.csv"), top=6)] == [
        ("angry", "fear"), ("angry", "happy"), ("fear", "angry"), ("fear", "happy"),
        ("happy", "angry"), ("happy", "fear")]
    perfect = pd.DataFrame(np.eye(3, dtype=int) * 5, index=counts.index, columns=counts.columns)
    perfect.to_csv(tmp_path / "p.csv")
    assert confused_pairs(str(tmp_path / "p.csv")) == []


def _decode(tag):
    m = re.fullmatch(r'<img alt="[^"]*" src="data:(image/\w+);base64,([A-Za-z0-9+/=]+)">', tag)
    assert m, tag[:80]
    return m.group(1), Image.open(io.BytesIO(base64.b64decode(m.group(2))))


def test_images_are_embedded_downscaled_and_large_ones_as_jpeg(tmp_path):
    rng = np.random.default_rng(0)
    Image.fromarray(np.full((40, 60), 128, np.uint8)).save(tmp_path / "small.png")
    mime, img = _decode(image_tag(str(tmp_path / "small.png"), "small"))
    assert (mime, img.size) == ("image/png", (60, 40))  # small PNGs go in as they are
    Image.fromarray(rng.integers(0, 256, (600, 900), dtype=np.uint8)).save(tmp_path / "noise.png")
    mime, img = _decode(image_tag(str(tmp_path / "noise.png"), "noise", max_width=600))
    assert (mime, img.size) == ("image/jpeg", (600, 400))  # noise-like: too big as PNG
    ramp = np.tile(np.linspace(0, 255, 900).astype(np.uint8), (600, 1))
    Image.fromarray(ramp).save(tmp_path / "ramp.png")
    mime, img = _decode(image_tag(str(tmp_path / "ramp.png"), "ramp", max_width=300))
    assert (mime, img.size) == ("image/png", (300, 200))
    assert 'alt="a &quot;b&quot;"' in image_tag(str(tmp_path / "small.png"), 'a "b"')


def test_keract_figures_in_layer_order(tmp_path):
    for name in ("10_pool3.png", "2_conv1.png", "0_preprocess.png", "notes.txt"):
        (tmp_path / name).write_text("")
    assert _layer_files(str(tmp_path)) == ["0_preprocess.png", "2_conv1.png", "10_pool3.png"]


def test_captions_have_one_home_and_fill_their_wildcards():
    """The HTML page's figure captions are the workflow/report/*.rst texts that Snakemake's
    report shows, with the wildcards filled in."""
    from ferflow.pipeline.report import caption

    caps = {p.stem: p.read_text() for p in (ROOT / "workflow" / "report").glob("*.rst")}
    text = caption(caps, "filters", run="a.r1", start="noise")
    assert text.startswith("Gradient-ascent images of a.r1's filters, starting from noise: ")
    assert "\n" not in text and "{{" not in text
    assert "config key analysis.keract.layers" in caption(caps, "keract", run="a", view="x")
    assert caption(caps, "confusion", name="both").startswith("Confusion matrix of both on")
    from ferflow.pipeline.paths import declared

    used = {o.caption for o in declared().values()}  # the page's captions: the declarations'
    assert used and used <= set(caps)
    with pytest.raises(KeyError):
        caption(caps, "saliency")  # a wildcard left unfilled is an error
