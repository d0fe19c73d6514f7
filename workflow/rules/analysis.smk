# Explanation figures: one rule per analysis, over the models config key
# analysis.<analysis>.models lists (or analysis.models); settings reach each rule as params.


def analysis_params(analysis, *keys):
    """The settings one analysis depends on (the evaluation set and image included)."""
    a = config["analysis"]
    return {"eval_set": config["evaluate"]["eval_set"],
            **({"image": a["image"]} if "image" in keys else {}),
            **{k: a[analysis][k] for k in keys if k != "image"}}


rule saliency:
    input:
        model=rules.train.output.model,
        faces=rules.ingest.output.faces,
        split=rules.split.output.split,
    output:
        png=report(f"{R}/figures/{{model}}/saliency.png", caption="../report/saliency.rst",
                   category="8. Saliency", subcategory="{model}"),
    params:
        settings=analysis_params("saliency", "mask_quantile"),
    threads: job_threads("analysis")
    resources:
        **cluster_resources("analysis"),
    log:
        f"{R}/logs/saliency/{{model}}.log",
    script:
        "../scripts/figure.py"


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
            **analysis_params("filters", "layers", "steps", "step_size", "max_filters", "seed",
                              *(["image"] if wc.start == "image" else [])),
            "start": wc.start,
        },
    threads: job_threads("analysis")
    resources:
        **cluster_resources("analysis"),
    log:
        f"{R}/logs/filters/{{model}}_{{start}}.log",
    script:
        "../scripts/figure.py"


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
        settings=analysis_params("layer_outputs", "layers", "max_channels", "image"),
    log:
        f"{R}/logs/layer_outputs/{{model}}.log",
    script:
        "../scripts/figure.py"


rule lime:
    input:
        model=rules.train.output.model,
        faces=rules.ingest.output.faces,
        split=rules.split.output.split,
    output:
        png=report(f"{R}/figures/{{model}}/lime.png", caption="../report/lime.rst",
                   category="11. LIME", subcategory="{model}"),
    params:
        settings=analysis_params("lime", "segments", "compactness", "num_samples", "batch_size",
                                 "top_superpixels", "seed"),
    threads: job_threads("analysis")
    resources:
        **cluster_resources("analysis"),
    log:
        f"{R}/logs/lime/{{model}}.log",
    script:
        "../scripts/figure.py"


rule keract:
    input:
        model=rules.train.output.model,
        faces=rules.ingest.output.faces,
        split=rules.split.output.split,
    output:
        report(directory(f"{R}/figures/{{model}}/keract_{{view}}"), patterns=["{layer}.png"],
               caption="../report/keract.rst", category="12. keract", subcategory="{model} {view}"),
    params:
        settings=analysis_params("keract", "layers", "image"),
    log:
        f"{R}/logs/keract/{{model}}_{{view}}.log",
    script:
        "../scripts/keract.py"
