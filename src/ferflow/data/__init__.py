"""Reading faces: the data formats' readers, image files and face detection, the split."""
