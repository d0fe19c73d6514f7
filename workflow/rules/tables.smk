# Tables (CSV + Markdown) and the comparison figure. A table's params hold its layout
# (names and files, ferflow.pipeline.layouts), so a change of membership reruns it.


rule accuracy_table:
    input:
        layouts.files(ACCURACY, keys=("metrics", "info", "pred")),
    output:
        csv=reported("accuracy_table"),
        md=markdown(P.accuracy_table),
        ens_csv=reported("ensembles_table"),
        ens_md=markdown(P.ensembles_table),
    log:
        f"{R}/logs/tables/accuracy.log",
    localrule: True  # seconds of work: on a cluster it runs on the submitting node
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
        csv=reported("ablation_table"),
        md=markdown(P.ablation_table),
    log:
        f"{R}/logs/tables/ablation_{{ablation}}.log",
    localrule: True  # seconds of work: on a cluster it runs on the submitting node
    params:
        layout=ablation_layout,
        evidence=config["evaluate"]["evidence"],
    script:
        "../scripts/ablation_table.py"


rule comparison_table:
    input:
        lambda wc: layouts.files(comparison_layout(wc)),
    output:
        csv=reported("comparison_table"),
        md=markdown(P.comparison_table),
        pairs=report(
            P.comparison_pairs,
            caption="../report/comparison_table.rst",
            category=SECTIONS["cnn-vs-dnn"],
        ),
    log:
        f"{R}/logs/tables/compare_{{comparison}}.log",
    localrule: True  # seconds of work: on a cluster it runs on the submitting node
    params:
        layout=comparison_layout,
        evidence=config["evaluate"]["evidence"],
    script:
        "../scripts/comparison_table.py"


rule explanations_table:
    input:
        layouts.files(EXPLANATIONS, keys=None),
    output:
        csv=reported("explanations_table"),
        md=markdown(P.explanations_table),
    log:
        f"{R}/logs/tables/explanations.log",
    localrule: True  # seconds of work: on a cluster it runs on the submitting node
    params:
        **layouts.explanations_params(config),
        layout=EXPLANATIONS,
    script:
        "../scripts/explanations_table.py"


rule validation_curves:
    input:
        lambda wc: layouts.files(curves_layout(wc), keys=("info", "history")),
    output:
        png=reported("validation_curves"),
    log:
        f"{R}/logs/validation_curves/{{comparison}}.log",
    localrule: True  # seconds of work: on a cluster it runs on the submitting node
    params:
        layout=curves_layout,
    script:
        "../scripts/validation_curves.py"


rule calibration_table:
    input:
        [P("calibration", name=n) for n in RUNS + ENSEMBLES],
    output:
        csv=reported("calibration_table"),
        md=markdown(P.calibration_table),
    log:
        f"{R}/logs/tables/calibration.log",
    localrule: True
    params:
        layout={n: P("calibration", name=n) for n in RUNS + ENSEMBLES},
        # the set the Markdown shows (the temperature is fitted on validation)
        eval_set=config["evaluate"]["eval_set"].replace("validation", "private"),
    script:
        "../scripts/calibration_table.py"
