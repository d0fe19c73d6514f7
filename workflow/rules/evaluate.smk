# Evaluation: predictions, metrics, ensembles + Kaggle submission, confusion matrices.


rule predict:
    input:
        # loaded only for tta tencrop and multicrop (an ONNX model has none)
        model=lambda wc: [] if wc.run in FOREIGN["onnx"] else P("model", run=wc.run),
        views=rules.train.output.views,
        faces=rules.ingest.output.faces,
        split=rules.split.output.split,
    output:
        pred=P("pred", name="{run}"),
    log:
        f"{R}/logs/predict/{{run}}.log",
    benchmark:
        f"{R}/benchmarks/predict/{{run}}.tsv"
    params:
        batch_size=config["evaluate"]["predict_batch_size"],
        tta=lambda wc: PLAN.tta(wc.run),
    script:
        "../scripts/predict.py"


rule metrics:
    input:
        pred=rules.predict.output.pred,
        info=rules.train.output.info,
    output:
        metrics=P.metrics,
    log:
        f"{R}/logs/metrics/{{run}}.log",
    localrule: True  # seconds of work: on a cluster it runs on the submitting node
    script:
        "../scripts/metrics.py"


rule model_card:
    input:
        unpack(ingest_inputs),
        metrics=rules.metrics.output.metrics,
        info=rules.train.output.info,
        pred=rules.predict.output.pred,
        faces=rules.ingest.output.faces,
        split=rules.split.output.split,
        train=rules.split.output.train,
        calibration=P("calibration", name="{run}"),
    output:
        card=P.model_card,
    log:
        f"{R}/logs/model_card/{{run}}.log",
    localrule: True  # seconds of work: on a cluster it runs on the submitting node
    params:
        settings=lambda wc: PLAN.settings(wc.run),
        sources=lambda wc: ingest_inputs(wc),
        eval_set=config["evaluate"]["eval_set"],
        dataset=config["dataset"],
        data_format=config["data"]["format"],
        use_scaled=config["evaluate"]["calibration"]["use_scaled"],
    script:
        "../scripts/model_card.py"


rule export_model:
    input:
        model=rules.train.output.model,
        faces=rules.ingest.output.faces,
        split=rules.split.output.split,
        calibrations=lambda wc: scaled_by([wc.run]),
    output:
        out=directory(P.export),
    log:
        f"{R}/logs/export/{{run}}.{{format}}.log",
    wildcard_constraints:
        format="onnx|saved_model|litert",  # the web page: rule web_page
    params:
        faces=100,  # validation faces on which the export must give Keras' probabilities
    script:
        "../scripts/export.py"


rule web_page:
    input:
        model=rules.train.output.model,
        calibrations=lambda wc: scaled_by([wc.run]),  # the page applies it after its TTA
        page=page_inputs(os.path.join(workflow.basedir, "web")),  # npm ci in web/
    output:
        page=directory(P("export", run="{run}", format="web")),
    log:
        f"{R}/logs/export/{{run}}.web.log",
    localrule: True  # seconds of work: on a cluster it runs on the submitting node
    params:
        margin=PREDICT["margin"],
        tta=PREDICT["tta"],
    script:
        "../scripts/web_page.py"


rule ensemble:
    input:
        preds=lambda wc: [P("pred", name=m) for m in PLAN.members(wc.ensemble)],
        # evaluate.calibration.use_scaled: the members' temperatures (else none)
        calibrations=lambda wc: scaled_by(PLAN.members(wc.ensemble)),
    output:
        pred=P("pred", name="{ensemble}"),
        metrics=P.ensemble_metrics,
        submission=P.submission,
        weights=P.ensemble_weights,
    log:
        f"{R}/logs/ensemble/{{ensemble}}.log",
    localrule: True  # seconds of work: on a cluster it runs on the submitting node
    params:
        members=lambda wc: PLAN.members(wc.ensemble),
        method=lambda wc: config["ensembles"][wc.ensemble]["method"],
        seed=lambda wc: config["ensembles"][wc.ensemble]["seed"],
    script:
        "../scripts/ensemble.py"


rule confusion:
    input:
        pred=P.pred,
    output:
        png=reported("confusion"),
        counts=P.confusion_counts,
    log:
        f"{R}/logs/confusion/{{name}}.log",
    localrule: True  # seconds of work: on a cluster it runs on the submitting node
    params:
        eval_set=config["evaluate"]["eval_set"],
    script:
        "../scripts/confusion.py"


rule calibration:
    input:
        pred=P.pred,
    output:
        calibration=P.calibration,
    log:
        f"{R}/logs/calibration/{{name}}.log",
    localrule: True
    params:
        bins=config["evaluate"]["calibration"]["bins"],
        evidence=config["evaluate"]["evidence"],
    script:
        "../scripts/calibration.py"


rule reliability:
    input:
        calibration=rules.calibration.output.calibration,
    output:
        png=reported("reliability"),
    log:
        f"{R}/logs/reliability/{{name}}.log",
    localrule: True
    params:
        # scored where the temperature was not fitted: private for validation
        eval_set=config["evaluate"]["eval_set"].replace("validation", "private"),
    script:
        "../scripts/reliability.py"
