# Tables (CSV + Markdown) and the comparison figure. A table's params hold its layout
# (names and files, built in common.smk), so a change of membership reruns it.


rule accuracy_table:
    input:
        layout_files(accuracy_layout(), keys=("metrics", "info")),
    output:
        csv=report(f"{R}/tables/accuracy.csv", caption="../report/tables.rst",
                   category="3. Accuracy"),
        md=f"{R}/tables/accuracy.md",
        ens_csv=report(f"{R}/tables/ensembles.csv", caption="../report/ensembles.rst",
                       category="6. Ensembles"),
        ens_md=f"{R}/tables/ensembles.md",
    params:
        layout=accuracy_layout(),
        eval_set=config["evaluate"]["eval_set"],
    log:
        f"{R}/logs/tables/accuracy.log",
    script:
        "../scripts/accuracy_table.py"


rule ablation_table:
    input:
        lambda wc: layout_files(ablation_layout(wc.ablation), keys=("metrics", "info")),
    output:
        csv=report(f"{R}/tables/ablation_{{ablation}}.csv", caption="../report/ablation.rst",
                   category="4. Ablations"),
        md=f"{R}/tables/ablation_{{ablation}}.md",
    params:
        layout=lambda wc: ablation_layout(wc.ablation),
    log:
        f"{R}/logs/tables/ablation_{{ablation}}.log",
    script:
        "../scripts/ablation_table.py"


rule comparison_table:
    input:
        lambda wc: layout_files(comparison_layout(wc.comparison)),
    output:
        csv=report(f"{R}/tables/compare_{{comparison}}.csv", caption="../report/comparison.rst",
                   category="5. CNN vs DNN"),
        md=f"{R}/tables/compare_{{comparison}}.md",
    params:
        layout=lambda wc: comparison_layout(wc.comparison),
    log:
        f"{R}/logs/tables/compare_{{comparison}}.log",
    script:
        "../scripts/comparison_table.py"


rule validation_curves:
    input:
        lambda wc: layout_files(curves_layout(wc.comparison), keys=("info", "history")),
    output:
        png=report(f"{R}/figures/{{comparison}}/validation_curves.png",
                   caption="../report/validation_curves.rst", category="5. CNN vs DNN"),
    params:
        layout=lambda wc: curves_layout(wc.comparison),
    log:
        f"{R}/logs/validation_curves/{{comparison}}.log",
    script:
        "../scripts/validation_curves.py"
