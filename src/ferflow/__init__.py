"""ferflow: a reproducible facial-expression classification pipeline (library part).

The library never imports Snakemake; TensorFlow is imported only by the modules
that train or run models, so reading data and configs stays fast.
"""

__version__ = "0.1.0"

CLASS_NAMES = ("Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral")
IMAGE_SIZE = 48
N_PIXELS = IMAGE_SIZE * IMAGE_SIZE
