# Helpers shared by every stage (output paths, model names, input functions).
from ferflow.config import model_settings, model_tta

R = f"results/{config['dataset']}"
MODELS = list(config["models"])
ENSEMBLES = list(config["ensembles"])


def _alternatives(names):
    return "|".join(names) if names else "(?!x)x"  # a regex that matches nothing


def ingest_inputs(wildcards):
    """The input files of the configured data format (none for synthetic faces)."""
    data = config["data"]
    keys = {"synthetic": [], "fer2013": ["path"], "ferplus": ["path", "votes"],
            "course": ["train_csv", "test_csv"]}[data["format"]]
    return {k: data[k] for k in keys if data.get(k)}


def ingest_params():
    """Everything the ingested faces depend on besides the input files."""
    params = {"format": config["data"]["format"]}
    if params["format"] == "synthetic":
        params["synthetic"] = config["synthetic"]
    return params


def all_targets():
    targets = [f"{R}/data/faces.npz", f"{R}/data/split.npz", f"{R}/data/train_flipped.npz"]
    targets += expand(f"{R}/metrics/{{name}}.json", name=MODELS)
    targets += expand(f"{R}/figures/{{name}}/confusion.png", name=MODELS + ENSEMBLES)
    targets += expand(f"{R}/figures/{{name}}/training_curves.png", name=MODELS)
    targets += expand(f"{R}/ensemble/{{ens}}/{{f}}", ens=ENSEMBLES,
                      f=["metrics.json", "submission.csv"])
    return targets
