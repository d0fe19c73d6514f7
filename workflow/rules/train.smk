# Training: one generic rule over {run}; the settings come from the config.


rule train:
    input:
        train=rules.split.output.train,
        split=rules.split.output.split,
        faces=rules.ingest.output.faces,
    output:
        model=P.model,
        history=P.history,
        summary=P.summary,
        info=P.info,
        # the trained model's plain and mirrored probabilities of every evaluation face:
        # rule predict turns them into predictions without TensorFlow (not for tencrop or multicrop)
        views=P.views,
    log:
        f"{R}/logs/train/{{run}}.log",
    benchmark:
        f"{R}/benchmarks/train/{{run}}.tsv"
    wildcard_constraints:
        run=_alternatives(TRAINED),
    retries: config["resources"]["retries"]
    threads: job_threads("train")
    resources:
        **cluster_resources("train"),
    params:
        settings=lambda wc: PLAN.settings(wc.run),
        state_dir=lambda wc: P("checkpoints", run=wc.run),
    script:
        "../scripts/train.py"


# A model trained elsewhere (config key file): scored, not trained. A Keras file becomes a
# ferflow model (model.keras: explanations, TTA, exports); an ONNX file gets its views only.
rule import_model:
    input:
        file=lambda wc: PLAN.runs[wc.run]["file"],  # a new file reruns it
        faces=rules.ingest.output.faces,
        split=rules.split.output.split,
    output:
        model=P.model,
        history=P.history,
        summary=P.summary,
        info=P.info,
        views=P.views,
    log:
        f"{R}/logs/import/{{run}}.log",
    wildcard_constraints:
        run=_alternatives(FOREIGN["keras"]),
    params:
        settings=lambda wc: PLAN.settings(wc.run),
    script:
        "../scripts/import_model.py"


rule import_onnx:
    input:
        file=lambda wc: PLAN.runs[wc.run]["file"],
        faces=rules.ingest.output.faces,
        split=rules.split.output.split,
    output:
        history=P.history,
        summary=P.summary,
        info=P.info,
        views=P.views,
    log:
        f"{R}/logs/import/{{run}}.log",
    wildcard_constraints:
        run=_alternatives(FOREIGN["onnx"]),
    params:
        settings=lambda wc: PLAN.settings(wc.run),
    script:
        "../scripts/import_model.py"


rule training_curves:
    input:
        history=rules.train.output.history,
    output:
        png=reported("training_curves"),
    log:
        f"{R}/logs/training_curves/{{run}}.log",
    localrule: True  # seconds of work: on a cluster it runs on the submitting node
    params:
        monitor=lambda wc: PLAN.settings(wc.run)["monitor"],
    script:
        "../scripts/training_curves.py"
