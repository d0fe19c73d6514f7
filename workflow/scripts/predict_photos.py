"""Adapter: the faces of the configured photo/video folder -> predictions.csv + annotated copies."""
from ferflow.inference.photos import predict_photos
from ferflow.pipeline.runlog import run

sm = snakemake  # noqa: F821 (injected by Snakemake)
run(sm.log[0], predict_photos, sm.input.model, [sm.params.folder], sm.output.csv,
    annotate_dir=sm.output.annotated, detect=sm.params.detect, margin=sm.params.margin,
    tta=sm.params.tta, every=sm.params.every, detector=sm.params.detector,
    calibration=next(iter(sm.input.calibrations), None))
