# Evaluation: predictions, metrics, ensembles + Kaggle submission, confusion matrices.


rule predict:
    input:
        model=rules.train.output.model,  # loaded only for tta tencrop
        views=rules.train.output.views,
        faces=rules.ingest.output.faces,
        split=rules.split.output.split,
    output:
        pred=f"{R}/predictions/{{model}}.npz",
    log:
        f"{R}/logs/predict/{{model}}.log",
    benchmark:
        f"{R}/benchmarks/predict/{{model}}.tsv"
    params:
        batch_size=config["evaluate"]["predict_batch_size"],
        tta=lambda wc: model_tta(config, wc.model),
    script:
        "../scripts/predict.py"


rule metrics:
    input:
        pred=rules.predict.output.pred,
        info=rules.train.output.info,
    output:
        metrics=f"{R}/metrics/{{model}}.json",
    log:
        f"{R}/logs/metrics/{{model}}.log",
    script:
        "../scripts/metrics.py"


rule ensemble:
    input:
        preds=lambda wc: expand(
            f"{R}/predictions/{{m}}.npz", m=ensemble_members(config, wc.ensemble)
        ),
    output:
        pred=f"{R}/predictions/{{ensemble}}.npz",
        metrics=f"{R}/ensemble/{{ensemble}}/metrics.json",
        submission=f"{R}/ensemble/{{ensemble}}/submission.csv",
        weights=f"{R}/ensemble/{{ensemble}}/weights.json",
    log:
        f"{R}/logs/ensemble/{{ensemble}}.log",
    params:
        members=lambda wc: ensemble_members(config, wc.ensemble),
        method=lambda wc: config["ensembles"][wc.ensemble]["method"],
        seed=lambda wc: config["ensembles"][wc.ensemble]["seed"],
    script:
        "../scripts/ensemble.py"


rule confusion:
    input:
        pred=f"{R}/predictions/{{name}}.npz",
    output:
        png=report(
            f"{R}/figures/{{name}}/confusion.png",
            caption="../report/confusion.rst",
            category=SECTIONS["confusion"],
            subcategory="{name}",
        ),
        counts=f"{R}/figures/{{name}}/confusion_counts.csv",
    log:
        f"{R}/logs/confusion/{{name}}.log",
    params:
        eval_set=config["evaluate"]["eval_set"],
    script:
        "../scripts/confusion.py"
