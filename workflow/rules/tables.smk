# Tables (CSV + Markdown) and the comparison figure. A table's params hold its layout
# (names and files, built in common.smk), so a change of membership reruns it.


rule accuracy_table:
    input:
        layout_files(accuracy_layout(), keys=("metrics", "info", "pred")),
    output:
        csv=report(
            f"{R}/tables/accuracy.csv",
            caption="../report/tables.rst",
            category=SECTIONS["accuracy"],
        ),
        md=f"{R}/tables/accuracy.md",
        ens_csv=report(
            f"{R}/tables/ensembles.csv",
            caption="../report/ensembles.rst",
            category=SECTIONS["ensembles"],
        ),
        ens_md=f"{R}/tables/ensembles.md",
    log:
        f"{R}/logs/tables/accuracy.log",
    params:
        layout=accuracy_layout(),
        eval_set=config["evaluate"]["eval_set"],
        evidence=config["evaluate"]["evidence"],
    script:
        "../scripts/accuracy_table.py"


rule ablation_table:
    input:
        lambda wc: layout_files(ablation_layout(wc.ablation), keys=("metrics", "info", "pred")),
    output:
        csv=report(
            f"{R}/tables/ablation_{{ablation}}.csv",
            caption="../report/ablation.rst",
            category=SECTIONS["ablations"],
        ),
        md=f"{R}/tables/ablation_{{ablation}}.md",
    log:
        f"{R}/logs/tables/ablation_{{ablation}}.log",
    params:
        layout=lambda wc: ablation_layout(wc.ablation),
        evidence=config["evaluate"]["evidence"],
    script:
        "../scripts/ablation_table.py"


rule comparison_table:
    input:
        lambda wc: layout_files(comparison_layout(wc.comparison)),
    output:
        csv=report(
            f"{R}/tables/compare_{{comparison}}.csv",
            caption="../report/comparison.rst",
            category=SECTIONS["cnn-vs-dnn"],
        ),
        md=f"{R}/tables/compare_{{comparison}}.md",
        pairs=report(
            f"{R}/tables/compare_{{comparison}}_pairs.csv",
            caption="../report/comparison.rst",
            category=SECTIONS["cnn-vs-dnn"],
        ),
    log:
        f"{R}/logs/tables/compare_{{comparison}}.log",
    params:
        layout=lambda wc: comparison_layout(wc.comparison),
        evidence=config["evaluate"]["evidence"],
    script:
        "../scripts/comparison_table.py"


rule validation_curves:
    input:
        lambda wc: layout_files(curves_layout(wc.comparison), keys=("info", "history")),
    output:
        png=report(
            f"{R}/figures/{{comparison}}/validation_curves.png",
            caption="../report/validation_curves.rst",
            category=SECTIONS["cnn-vs-dnn"],
        ),
    log:
        f"{R}/logs/validation_curves/{{comparison}}.log",
    params:
        layout=lambda wc: curves_layout(wc.comparison),
    script:
        "../scripts/validation_curves.py"
