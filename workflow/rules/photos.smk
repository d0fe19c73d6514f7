# Your own photos: the faces of the folder predict.images, labelled by a trained model.
# Only when predict.images is set (otherwise no such rule and no target).
from ferflow.photos import image_files

PREDICT = config["predict"]


def predict_model():
    return PREDICT["model"] or MODELS[0]


if PREDICT["images"]:

    rule predict_photos:
        input:
            model=lambda wc: f"{R}/models/{predict_model()}/model.keras",
            images=lambda wc: image_files([PREDICT["images"]]),  # a new or changed photo reruns it
        output:
            csv=f"{R}/predict/predictions.csv",
            annotated=directory(f"{R}/predict/annotated"),
        log:
            f"{R}/logs/predict_photos.log",
        params:
            folder=PREDICT["images"],
            detect=PREDICT["detect"],
            margin=PREDICT["margin"],
            tta=PREDICT["tta"],
        script:
            "../scripts/predict_photos.py"
