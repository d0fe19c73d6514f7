# Explanation figures: one rule per analysis, over the models config key
# analysis.<analysis>.models lists (or analysis.models); settings reach each rule as params.


def analysis_params(analysis, *keys):
    """The settings one analysis depends on: ``keys`` of ``analysis.<analysis>``, and
    ``eval_set`` (evaluate.eval_set) and ``image`` (analysis.image) when listed."""
    shared = {"eval_set": config["evaluate"]["eval_set"], "image": config["analysis"]["image"]}
    return {k: shared[k] if k in shared else config["analysis"][analysis][k] for k in keys}


rule saliency:
    input:
        model=rules.train.output.model,
        pred=rules.predict.output.pred,
        faces=rules.ingest.output.faces,
    output:
        png=report(f"{R}/figures/{{model}}/saliency.png", caption="../report/saliency.rst",
                   category="8. Saliency", subcategory="{model}"),
    params:
        settings=analysis_params("saliency", "eval_set", "mask_quantile"),
    threads: job_threads("analysis")
    resources:
        **cluster_resources("analysis"),
    log:
        f"{R}/logs/saliency/{{model}}.log",
    script:
        "../scripts/saliency.py"


rule filters:
    input:
        model=rules.train.output.model,
        faces=rules.ingest.output.faces,
        split=rules.split.output.split,
    output:
        png=report(f"{R}/figures/{{model}}/filters_{{start}}.png", caption="../report/filters.rst",
                   category="9. Filters", subcategory="{model}"),
    params:
        settings=lambda wc: {
            # from noise: no evaluation set or image (a change of them keeps the figure)
            **analysis_params("filters", "layers", "steps", "step_size", "max_filters", "seed",
                              *(["eval_set", "image"] if wc.start == "image" else [])),
            "start": wc.start,
        },
    threads: job_threads("analysis")
    resources:
        **cluster_resources("analysis"),
    log:
        f"{R}/logs/filters/{{model}}_{{start}}.log",
    script:
        "../scripts/filters.py"


rule layer_outputs:
    input:
        model=rules.train.output.model,
        faces=rules.ingest.output.faces,
        split=rules.split.output.split,
    output:
        png=report(f"{R}/figures/{{model}}/layer_outputs.png",
                   caption="../report/layer_outputs.rst", category="10. Layer outputs",
                   subcategory="{model}"),
    params:
        settings=analysis_params("layer_outputs", "eval_set", "layers", "max_channels", "image"),
    log:
        f"{R}/logs/layer_outputs/{{model}}.log",
    script:
        "../scripts/layer_outputs.py"


rule lime:
    input:
        model=rules.train.output.model,
        pred=rules.predict.output.pred,
        faces=rules.ingest.output.faces,
    output:
        png=report(f"{R}/figures/{{model}}/lime.png", caption="../report/lime.rst",
                   category="11. LIME", subcategory="{model}"),
    params:
        settings=analysis_params("lime", "eval_set", "segments", "compactness", "num_samples", "batch_size",
                                 "top_superpixels", "seed"),
    threads: job_threads("analysis")
    resources:
        **cluster_resources("analysis"),
    log:
        f"{R}/logs/lime/{{model}}.log",
    script:
        "../scripts/lime.py"


rule keract:
    input:
        model=rules.train.output.model,
        faces=rules.ingest.output.faces,
        split=rules.split.output.split,
    output:
        report(directory(f"{R}/figures/{{model}}/keract_{{view}}"), patterns=["{layer}.png"],
               caption="../report/keract.rst", category="12. keract", subcategory="{model} {view}"),
    params:
        settings=analysis_params("keract", "eval_set", "layers", "image"),
    log:
        f"{R}/logs/keract/{{model}}_{{view}}.log",
    script:
        "../scripts/keract.py"
