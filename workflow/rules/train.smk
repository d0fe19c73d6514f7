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
    retries: config["resources"]["retries"]
    threads: job_threads("train")
    resources:
        **cluster_resources("train"),
    params:
        settings=lambda wc: PLAN.settings(wc.run),
        state_dir=lambda wc: P("checkpoints", run=wc.run),
    script:
        "../scripts/train.py"


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
