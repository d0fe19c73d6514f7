"""How a figure or a table of the workflow is declared, and the report's sections.

Each figure and each table is declared once, beside the function that draws or writes
it: a module of :mod:`ferflow.evaluation` or :mod:`ferflow.explanations` lists its
declarations in a module-level ``OUTPUTS``. The declaration says everything the workflow
needs besides the rule itself: the path template under ``results/{dataset}``, the
wildcard that names each instance (``{run}``, ``{name}``, ``{comparison}``, ...), the
variant wildcards and their values, which runs get it (a config section), its caption
(``workflow/report/<caption>.rst``), and its report section and place. The output map
(:mod:`ferflow.pipeline.paths`), the final targets and the report's layout
(:mod:`ferflow.pipeline.layouts`), the report page and the Snakefile's wildcard
constraints read them (:func:`ferflow.pipeline.paths.declared`).

Adding a figure (docs/adding-a-figure.md): its function and its declaration in one
module, its rule, its script adapter, its caption.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# The report's sections in order: id -> title (numbered on the page). The HTML page and
# the Snakemake report's categories (workflow/rules/*.smk) both take them from here.
SECTIONS = {
    "architectures": "Architectures",
    "curves": "Training curves",
    "accuracy": "Accuracy of every model and ensemble",
    "calibration": "Calibration",
    "ablations": "Ablations",
    "cnn-vs-dnn": "CNN vs DNN",
    "ensembles": "Ensembles",
    "confusion": "Confusion matrices",
    "saliency": "Saliency",
    "filters": "Gradient-ascent filter images",
    "layer-outputs": "Layer outputs",
    "lime": "LIME",
    "explanations": "Explanations, scored for faithfulness",
    "keract": "keract activations",
}

# The wildcards that name an output's instances, and what each ranges over (a run: one
# training; a name: a run or an ensemble). An output has at most one of them.
INSTANCE_WILDCARDS = ("run", "name", "ensemble", "comparison", "ablation")


def section_title(section: str) -> str:
    """A section's numbered title ("3. Accuracy of every model and ensemble")."""
    return f"{list(SECTIONS).index(section) + 1}. {SECTIONS[section]}"


@dataclass(frozen=True)
class Output:
    """One figure or table of the workflow.

    ``key``: its name (rules read ``P.<key>``); ``path``: its template under the
    results directory; ``section`` / ``order``: where the report shows it (sorted by
    ``order`` within the section); ``caption``: the caption file's name (default
    ``key``); ``variants``: wildcard -> every value it may take (the Snakefile's
    constraint); ``chosen``: the dotted config key that lists the values made (default:
    all of them); ``runs``: for a ``{run}`` output, the config section whose ``models``
    (or ``analysis.models``) choose the runs, or "trained" (the runs ferflow trains, not
    the models trained elsewhere; for a ``{comparison}`` output: the comparisons with a
    trained model); default: every run; ``kind``: "figure",
    "figures" (a directory of PNGs) or "table" (a CSV file with a Markdown twin).
    """

    key: str
    path: str
    section: str
    kind: str = "figure"
    order: int = 0
    caption: str = ""
    variants: dict = field(default_factory=dict)
    chosen: str | None = None
    runs: str | None = None

    def __post_init__(self):
        if self.section not in SECTIONS:
            raise ValueError(f"output {self.key!r}: unknown report section {self.section!r}")
        if self.kind not in ("figure", "figures", "table"):
            raise ValueError(f"output {self.key!r}: unknown kind {self.kind!r}")
        names = set(re.findall(r"\{(\w+)\}", self.path))
        instance = names & set(INSTANCE_WILDCARDS)
        if len(instance) > 1 or names - instance != set(self.variants):
            raise ValueError(f"output {self.key!r}: the wildcards of {self.path!r} are not one "
                             f"of {INSTANCE_WILDCARDS} and the variants {sorted(self.variants)}")
        if not self.caption:
            object.__setattr__(self, "caption", self.key)

    @property
    def instance(self) -> str | None:
        """The wildcard that names its instances (None: one file per results directory)."""
        found = [w for w in INSTANCE_WILDCARDS if "{" + w + "}" in self.path]
        return found[0] if found else None


def figure(key: str, path: str, section: str, **kw) -> Output:
    return Output(key, path, section, kind="figure", **kw)


def figures(key: str, path: str, section: str, **kw) -> Output:
    """A directory of PNG files (one figure per layer, ...)."""
    return Output(key, path, section, kind="figures", **kw)


def table(key: str, path: str, section: str, **kw) -> Output:
    """A table: ``path`` is its CSV file; its Markdown twin sits beside it (.md)."""
    if not path.endswith(".csv"):
        raise ValueError(f"table {key!r}: {path!r} is not a .csv path")
    return Output(key, path, section, kind="table", **kw)
