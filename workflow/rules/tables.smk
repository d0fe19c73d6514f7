# Tables (CSV + Markdown) and the comparison figure. A table's params hold its layout
# (names and files, ferflow.pipeline.layouts), so a change of membership reruns it.


rule accuracy_table:
    input:
        layouts.files(ACCURACY, keys=("metrics", "info", "pred")),
    output:
        csv=report(
            P.accuracy_table,
            caption="../report/tables.rst",
            category=SECTIONS["accuracy"],
        ),
        md=markdown(P.accuracy_table),
        ens_csv=report(
            P.ensembles_table,
            caption="../report/ensembles.rst",
            category=SECTIONS["ensembles"],
        ),
        ens_md=markdown(P.ensembles_table),
    log:
        f"{R}/logs/tables/accuracy.log",
    params:
        layout=ACCURACY,
        eval_set=config["evaluate"]["eval_set"],
        evidence=config["evaluate"]["evidence"],
    script:
        "../scripts/accuracy_table.py"


rule ablation_table:
    input:
        lambda wc: layouts.files(ablation_layout(wc), keys=("metrics", "info", "pred")),
    output:
        csv=report(
            P.ablation_table,
            caption="../report/ablation.rst",
            category=SECTIONS["ablations"],
        ),
        md=markdown(P.ablation_table),
    log:
        f"{R}/logs/tables/ablation_{{ablation}}.log",
    params:
        layout=ablation_layout,
        evidence=config["evaluate"]["evidence"],
    script:
        "../scripts/ablation_table.py"


rule comparison_table:
    input:
        lambda wc: layouts.files(comparison_layout(wc)),
    output:
        csv=report(
            P.comparison_table,
            caption="../report/comparison.rst",
            category=SECTIONS["cnn-vs-dnn"],
        ),
        md=markdown(P.comparison_table),
        pairs=report(
            P.comparison_pairs,
            caption="../report/comparison.rst",
            category=SECTIONS["cnn-vs-dnn"],
        ),
    log:
        f"{R}/logs/tables/compare_{{comparison}}.log",
    params:
        layout=comparison_layout,
        evidence=config["evaluate"]["evidence"],
    script:
        "../scripts/comparison_table.py"


rule explanations_table:
    input:
        layouts.files(EXPLANATIONS, keys=None),
    output:
        csv=report(
            P.explanations_table,
            caption="../report/explanations_table.rst",
            category=SECTIONS["explanations"],
        ),
        md=markdown(P.explanations_table),
    log:
        f"{R}/logs/tables/explanations.log",
    params:
        **layouts.explanations_params(config),
        layout=EXPLANATIONS,
    script:
        "../scripts/explanations_table.py"


rule validation_curves:
    input:
        lambda wc: layouts.files(curves_layout(wc), keys=("info", "history")),
    output:
        png=report(
            P.validation_curves,
            caption="../report/validation_curves.rst",
            category=SECTIONS["cnn-vs-dnn"],
        ),
    log:
        f"{R}/logs/validation_curves/{{comparison}}.log",
    params:
        layout=curves_layout,
    script:
        "../scripts/validation_curves.py"
