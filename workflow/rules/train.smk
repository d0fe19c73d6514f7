# Training: one generic rule over {model}; the settings come from the config.


rule train:
    input:
        train=rules.split.output.train,
        split=rules.split.output.split,
        faces=rules.ingest.output.faces,
    output:
        model=f"{R}/models/{{model}}/model.keras",
        history=f"{R}/models/{{model}}/history.csv",
        summary=f"{R}/models/{{model}}/summary.txt",
        info=f"{R}/models/{{model}}/training.json",
        # the trained model's plain and mirrored probabilities of every evaluation face:
        # rule predict turns them into predictions without TensorFlow (not for tencrop)
        views=f"{R}/models/{{model}}/views.npz",
    log:
        f"{R}/logs/train/{{model}}.log",
    benchmark:
        f"{R}/benchmarks/train/{{model}}.tsv"
    retries: config["resources"]["retries"]
    threads: job_threads("train")
    resources:
        **cluster_resources("train"),
    params:
        settings=lambda wc: model_settings(config, wc.model),
        state_dir=lambda wc: f"{R}/checkpoints/{wc.model}",
    script:
        "../scripts/train.py"


rule training_curves:
    input:
        history=rules.train.output.history,
    output:
        png=report(
            f"{R}/figures/{{model}}/training_curves.png",
            caption="../report/training_curves.rst",
            category=SECTIONS["curves"],
            subcategory="{model}",
        ),
    log:
        f"{R}/logs/training_curves/{{model}}.log",
    params:
        monitor=lambda wc: model_settings(config, wc.model)["monitor"],
    script:
        "../scripts/training_curves.py"
