# Explanation figures: one rule per analysis, over the models config key
# analysis.<analysis>.models lists (or analysis.models); settings reach each rule as params
# (analysis_params). Output paths: ferflow.pipeline.paths. The explanations job computes every
# attribution map of a run (and scores them); saliency and LIME draw from its file.


rule filters:
    input:
        model=rules.train.output.model,
        faces=rules.ingest.output.faces,
        split=rules.split.output.split,
    output:
        png=reported("filters"),
    log:
        f"{R}/logs/filters/{{run}}_{{start}}.log",
    threads: job_threads("analysis")
    resources:
        **cluster_resources("analysis"),
    params:
        settings=lambda wc: {
            # from noise: no evaluation set or image (a change of them keeps the figure)
            **analysis_params(
                "filters",
                "layers",
                "steps",
                "step_size",
                "max_filters",
                "seed",
                *(["eval_set", "image"] if wc.start == "image" else []),
            ),
            "start": wc.start,
        },
    script:
        "../scripts/filters.py"


rule layer_outputs:
    input:
        model=rules.train.output.model,
        faces=rules.ingest.output.faces,
        split=rules.split.output.split,
    output:
        png=reported("layer_outputs"),
    log:
        f"{R}/logs/layer_outputs/{{run}}.log",
    params:
        settings=analysis_params("layer_outputs", "eval_set", "layers", "max_channels", "image"),
    script:
        "../scripts/layer_outputs.py"


rule explanations:
    input:
        # an ONNX model: its own file (only the gradient-free methods)
        model=lambda wc: (
            PLAN.runs[wc.run]["file"] if wc.run in FOREIGN["onnx"] else P("model", run=wc.run)
        ),
        pred=rules.predict.output.pred,
        faces=rules.ingest.output.faces,
    output:
        png=reported("explanations"),
        scores=P.explanation_scores,
    log:
        f"{R}/logs/explanations/{{run}}.log",
    benchmark:
        f"{R}/benchmarks/explanations/{{run}}.tsv"
    threads: job_threads("analysis")
    resources:
        **cluster_resources("analysis"),
    params:
        eval_set=config["evaluate"]["eval_set"],
        settings=layouts.explanations_settings(config),
        lime=analysis_params("lime", "segments", "compactness", "num_samples", "batch_size", "seed"),
        onnx=lambda wc: PLAN.settings(wc.run) if wc.run in FOREIGN["onnx"] else None,
    script:
        "../scripts/explanations.py"


rule saliency:
    input:
        scores=rules.explanations.output.scores,
    output:
        png=reported("saliency"),
    log:
        f"{R}/logs/saliency/{{run}}.log",
    localrule: True  # seconds of work: on a cluster it runs on the submitting node
    params:
        settings=analysis_params("saliency", "mask_quantile"),
    script:
        "../scripts/saliency.py"


rule lime:
    input:
        scores=rules.explanations.output.scores,
    output:
        png=reported("lime"),
    log:
        f"{R}/logs/lime/{{run}}.log",
    localrule: True  # seconds of work: on a cluster it runs on the submitting node
    params:
        settings=analysis_params("lime", "top_superpixels"),
    script:
        "../scripts/lime.py"


rule keract:
    input:
        model=rules.train.output.model,
        faces=rules.ingest.output.faces,
        split=rules.split.output.split,
    output:
        reported("keract"),
    log:
        f"{R}/logs/keract/{{run}}_{{view}}.log",
    params:
        settings=analysis_params("keract", "eval_set", "layers", "image"),
    script:
        "../scripts/keract.py"
