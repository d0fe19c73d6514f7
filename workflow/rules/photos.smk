# Your own photos: the faces of the folder predict.images, labelled by a trained model.
# Only when predict.images is set (otherwise no such rule and no target).
# (PREDICT and predict_model come from common.smk)
if PREDICT["images"]:
    from ferflow.data.images import image_files  # numpy only: imported for a photo folder

    rule predict_photos:
        input:
            model=lambda wc: P("model", run=predict_model()),
            images=lambda wc: image_files([PREDICT["images"]]),  # a new or changed photo reruns it
            calibrations=lambda wc: scaled_by([predict_model()]),
        output:
            csv=P.photo_predictions,
            annotated=directory(P.photo_annotated),
        log:
            f"{R}/logs/predict_photos.log",
        params:
            folder=PREDICT["images"],
            detect=PREDICT["detect"],
            detector=PREDICT["detector"],
            margin=PREDICT["margin"],
            tta=PREDICT["tta"],
            every=PREDICT["every"],
        script:
            "../scripts/predict_photos.py"
