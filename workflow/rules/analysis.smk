# Explanation figures: one rule per analysis, over the models config key
# analysis.<analysis>.models lists (or analysis.models); settings reach each rule as params
# (analysis_params). Output paths: ferflow.paths.


rule saliency:
    input:
        model=rules.train.output.model,
        pred=rules.predict.output.pred,
        faces=rules.ingest.output.faces,
    output:
        png=report(
            P.saliency,
            caption="../report/saliency.rst",
            category=SECTIONS["saliency"],
            subcategory="{run}",
        ),
    log:
        f"{R}/logs/saliency/{{run}}.log",
    threads: job_threads("analysis")
    resources:
        **cluster_resources("analysis"),
    params:
        settings=analysis_params("saliency", "eval_set", "mask_quantile"),
    script:
        "../scripts/saliency.py"


rule filters:
    input:
        model=rules.train.output.model,
        faces=rules.ingest.output.faces,
        split=rules.split.output.split,
    output:
        png=report(
            P.filters,
            caption="../report/filters.rst",
            category=SECTIONS["filters"],
            subcategory="{run}",
        ),
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
        png=report(
            P.layer_outputs,
            caption="../report/layer_outputs.rst",
            category=SECTIONS["layer-outputs"],
            subcategory="{run}",
        ),
    log:
        f"{R}/logs/layer_outputs/{{run}}.log",
    params:
        settings=analysis_params("layer_outputs", "eval_set", "layers", "max_channels", "image"),
    script:
        "../scripts/layer_outputs.py"


rule lime:
    input:
        model=rules.train.output.model,
        pred=rules.predict.output.pred,
        faces=rules.ingest.output.faces,
    output:
        png=report(
            P.lime,
            caption="../report/lime.rst",
            category=SECTIONS["lime"],
            subcategory="{run}",
        ),
    log:
        f"{R}/logs/lime/{{run}}.log",
    benchmark:
        f"{R}/benchmarks/lime/{{run}}.tsv"
    threads: job_threads("analysis")
    resources:
        **cluster_resources("analysis"),
    params:
        settings=analysis_params(
            "lime",
            "eval_set",
            "segments",
            "compactness",
            "num_samples",
            "batch_size",
            "top_superpixels",
            "seed",
        ),
    script:
        "../scripts/lime.py"


rule keract:
    input:
        model=rules.train.output.model,
        faces=rules.ingest.output.faces,
        split=rules.split.output.split,
    output:
        report(
            directory(P.keract),
            patterns=["{layer}.png"],
            caption="../report/keract.rst",
            category=SECTIONS["keract"],
            subcategory="{run} {view}",
        ),
    log:
        f"{R}/logs/keract/{{run}}_{{view}}.log",
    params:
        settings=analysis_params("keract", "eval_set", "layers", "image"),
    script:
        "../scripts/keract.py"
