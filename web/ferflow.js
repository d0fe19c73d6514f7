// ferflow in the browser: the face detector and the classifier of `ferflow predict`, the
// same ONNX files run by onnxruntime-web, with the same pre- and post-processing
// (src/ferflow/data/images.py: detect_faces, crop_face; src/ferflow/inference/photos.py).
// Pure functions on RGBA pixels (ImageData), so that the page and its tests share them.
// Nothing here makes a network request beyond fetching the page's own files.

export const CLASS_NAMES = ["Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral"];
const STRIDES = [8, 16, 32];
const IMAGE_SIZE = 48;

// --- pixels ----------------------------------------------------------------------------

// OpenCV's COLOR_BGR2GRAY / RGBA2GRAY for 8-bit images: 0.299 R + 0.587 G + 0.114 B in
// fixed point, 15 bits (the same value for every pixel, tests/test_web.py checks).
export function toGray(rgba, width, height) {
  const out = new Uint8Array(width * height);
  for (let i = 0, p = 0; i < out.length; i++, p += 4) {
    out[i] = (rgba[p] * 9798 + rgba[p + 1] * 19235 + rgba[p + 2] * 3735 + 16384) >> 15;
  }
  return out;
}

// Python's round(): halves to the even neighbour.
export function roundHalfEven(v) {
  const f = Math.floor(v);
  const d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

// OpenCV's saturate_cast<uchar>(float): cvRound (halves to even), clipped to 0..255.
function saturate(v) {
  return Math.min(255, Math.max(0, roundHalfEven(v)));
}

// Area-weighted downscaling of a one-channel image (OpenCV's INTER_AREA when shrinking):
// each output pixel is the mean of the input area it covers.
export function resizeArea(src, sw, sh, dw, dh) {
  if (sw % dw === 0 && sh % dh === 0 && sw / dw === sh / dh && sw > dw) {
    return resizeAreaFast(src, sw, dw, dh, sw / dw);
  }
  const wx = areaWeights(sw, dw);
  const wy = areaWeights(sh, dh);
  const out = new Uint8Array(dw * dh);
  const row = new Float64Array(dw);
  for (let y = 0; y < dh; y++) {
    const acc = new Float64Array(dw);
    for (const [sy, a] of wy[y]) {
      row.fill(0);
      const base = sy * sw;
      for (let x = 0; x < dw; x++) {
        let s = 0;
        for (const [sx, b] of wx[x]) s += src[base + sx] * b;
        row[x] = s;
      }
      for (let x = 0; x < dw; x++) acc[x] += row[x] * a;
    }
    for (let x = 0; x < dw; x++) out[y * dw + x] = saturate(acc[x]);
  }
  return out;
}

// OpenCV's INTER_AREA at an integer factor k: the mean of each k x k block; for k = 2
// (sum + 2) >> 2, else the sum times 1/k^2 in single precision, rounded half to even.
function resizeAreaFast(src, sw, dw, dh, k) {
  const out = new Uint8Array(dw * dh);
  const scale = Math.fround(1 / (k * k));
  for (let y = 0; y < dh; y++) {
    for (let x = 0; x < dw; x++) {
      let sum = 0;
      for (let j = 0; j < k; j++) for (let i = 0; i < k; i++) sum += src[(y * k + j) * sw + x * k + i];
      out[y * dw + x] = k === 2 ? (sum + 2) >> 2 : saturate(Math.fround(sum * scale));
    }
  }
  return out;
}

function areaWeights(sn, dn) {
  const scale = sn / dn;
  const tab = [];
  for (let d = 0; d < dn; d++) {
    const f0 = d * scale;
    const f1 = f0 + scale;
    const list = [];
    for (let s = Math.floor(f0); s < Math.min(sn, Math.ceil(f1)); s++) {
      const w = Math.min(f1, s + 1) - Math.max(f0, s);
      if (w > 1e-12) list.push([s, w / scale]);
    }
    tab.push(list);
  }
  return tab;
}

// Bicubic upscaling (OpenCV's INTER_CUBIC: a = -0.75, half-pixel centres, edges repeated).
export function resizeCubic(src, sw, sh, dw, dh) {
  const A = -0.75;
  const k = (t) => {
    t = Math.abs(t);
    if (t <= 1) return ((A + 2) * t - (A + 3)) * t * t + 1;
    if (t < 2) return ((A * t - 5 * A) * t + 8 * A) * t - 4 * A;
    return 0;
  };
  const taps = (dn, sn) => {
    const scale = sn / dn;
    const out = [];
    for (let d = 0; d < dn; d++) {
      const f = (d + 0.5) * scale - 0.5;
      const i = Math.floor(f);
      const t = f - i;
      const w = [k(1 + t), k(t), k(1 - t), k(2 - t)];
      out.push([-1, 0, 1, 2].map((o, j) => [Math.min(sn - 1, Math.max(0, i + o)), w[j]]));
    }
    return out;
  };
  const tx = taps(dw, sw);
  const ty = taps(dh, sh);
  const out = new Uint8Array(dw * dh);
  for (let y = 0; y < dh; y++) {
    for (let x = 0; x < dw; x++) {
      let s = 0;
      for (const [sy, a] of ty[y]) for (const [sx, b] of tx[x]) s += src[sy * sw + sx] * a * b;
      out[y * dw + x] = saturate(s);
    }
  }
  return out;
}

// The 48x48 face of `box` widened by `margin` of its size on each side, made square about
// its centre; parts outside the image repeat its border (crop_face).
export function cropFace(gray, width, height, box, margin) {
  const [x, y, w, h] = box;
  const side = Math.max(w, h) * (1 + 2 * margin);
  const cx = x + w / 2;
  const cy = y + h / 2;
  const x0 = roundHalfEven(cx - side / 2);
  const y0 = roundHalfEven(cy - side / 2);
  const s = Math.max(1, roundHalfEven(side));
  const crop = new Uint8Array(s * s);
  for (let j = 0; j < s; j++) {
    const sy = Math.min(height - 1, Math.max(0, y0 + j));
    for (let i = 0; i < s; i++) {
      const sx = Math.min(width - 1, Math.max(0, x0 + i));
      crop[j * s + i] = gray[sy * width + sx];
    }
  }
  return s >= IMAGE_SIZE
    ? resizeArea(crop, s, s, IMAGE_SIZE, IMAGE_SIZE)
    : resizeCubic(crop, s, s, IMAGE_SIZE, IMAGE_SIZE);
}

// --- the detector (YuNet, as OpenCV's FaceDetectorYN runs it) ----------------------------

// The image as YuNet's input: BGR planes of 0-255 values, padded with zeros to multiples of
// 32 on the right and the bottom.
function detectorInput(rgba, width, height) {
  const pw = (Math.floor((width - 1) / 32) + 1) * 32;
  const ph = (Math.floor((height - 1) / 32) + 1) * 32;
  const data = new Float32Array(3 * pw * ph);
  const plane = pw * ph;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = (y * width + x) * 4;
      const q = y * pw + x;
      data[q] = rgba[p + 2];
      data[plane + q] = rgba[p + 1];
      data[2 * plane + q] = rgba[p];
    }
  }
  return { data, pw, ph };
}

function iouInt(a, b) {
  const ix = Math.max(0, Math.min(a[0] + a[2], b[0] + b[2]) - Math.max(a[0], b[0]));
  const iy = Math.max(0, Math.min(a[1] + a[3], b[1] + b[3]) - Math.max(a[1], b[1]));
  const inter = ix * iy;
  const union = a[2] * a[3] + b[2] * b[3] - inter;
  return union > 0 ? inter / union : 0;
}

// Boxes (x, y, w, h floats) and scores of YuNet's outputs, after OpenCV's NMSBoxes (on
// boxes truncated to integers, candidates above the score in descending order).
export function decodeDetections(outputs, pw, ph, scoreThreshold, nmsThreshold, topK) {
  const faces = [];
  STRIDES.forEach((stride) => {
    const cols = pw / stride;
    const rows = ph / stride;
    const cls = outputs[`cls_${stride}`].data;
    const obj = outputs[`obj_${stride}`].data;
    const bbox = outputs[`bbox_${stride}`].data;
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const i = r * cols + c;
        const score = Math.sqrt(Math.min(1, Math.max(0, cls[i])) * Math.min(1, Math.max(0, obj[i])));
        if (score < scoreThreshold) continue;
        // in single precision, as OpenCV computes them
        const f = Math.fround;
        const cx = f(f(c + bbox[i * 4]) * stride);
        const cy = f(f(r + bbox[i * 4 + 1]) * stride);
        const w = f(f(Math.exp(bbox[i * 4 + 2])) * stride);
        const h = f(f(Math.exp(bbox[i * 4 + 3])) * stride);
        faces.push({ box: [f(cx - f(w / 2)), f(cy - f(h / 2)), w, h], score });
      }
    }
  });
  const order = faces
    .map((f, i) => [f.score, i])
    .filter(([s]) => s > scoreThreshold)
    .sort((a, b) => b[0] - a[0] || a[1] - b[1])
    .slice(0, topK)
    .map(([, i]) => i);
  const ints = faces.map((f) => f.box.map((v) => Math.trunc(v)));
  const kept = [];
  for (const i of order) {
    if (kept.every((j) => iouInt(ints[i], ints[j]) <= nmsThreshold)) kept.push(i);
  }
  return kept.map((i) => faces[i]);
}

// softmax(log(clip(p, eps, 1)) / T): ferflow.evaluation.calibration.scale, after the TTA.
export function scaleByTemperature(probs, t) {
  const eps = 2.220446049250313e-16;
  const z = probs.map((v) => Math.log(Math.min(1, Math.max(eps, v))) / t);
  const top = Math.max(...z);
  const e = z.map((v) => Math.exp(v - top));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
}

// --- the pipeline ------------------------------------------------------------------------

export class Pipeline {
  // settings: config.json of the page (margin, detector thresholds, tta, min_face,
  // max_side); ort: the onnxruntime-web module.
  constructor(ort, detector, classifier, settings) {
    Object.assign(this, { ort, detector, classifier, settings });
  }

  static async load(ort, base) {
    const get = async (name) => {
      const res = await fetch(new URL(name, base));
      if (!res.ok) throw new Error(`${name}: not found (${res.status}) in the page's folder`);
      return res;
    };
    const settings = await (await get("config.json")).json();
    const options = { executionProviders: ["wasm"], graphOptimizationLevel: "all" };
    const session = async (name) => {
      const bytes = new Uint8Array(await (await get(name)).arrayBuffer());
      try {
        return await ort.InferenceSession.create(bytes, options);
      } catch (e) {
        throw new Error(`${name}: not an ONNX model onnxruntime-web can run (${e.message})`);
      }
    };
    return new Pipeline(ort, await session(settings.detector.file), await session(settings.model.file), settings);
  }

  // Face boxes [x, y, w, h] (integers, left to right) of an RGBA image (detect_faces).
  async detect(rgba, width, height) {
    const s = this.settings.detector;
    let img = rgba;
    let w = width;
    let h = height;
    const scale = Math.min(1, s.max_side / Math.max(width, height));
    if (scale < 1) {  // a large photo is searched scaled down, its boxes scaled back
      w = Math.max(1, roundHalfEven(width * scale));
      h = Math.max(1, roundHalfEven(height * scale));
      img = new Uint8ClampedArray(w * h * 4);
      for (let c = 0; c < 4; c++) {
        const plane = new Uint8Array(width * height);
        for (let i = 0; i < plane.length; i++) plane[i] = rgba[i * 4 + c];
        const small = resizeArea(plane, width, height, w, h);
        for (let i = 0; i < small.length; i++) img[i * 4 + c] = small[i];
      }
    }
    const { data, pw, ph } = detectorInput(img, w, h);
    const input = new this.ort.Tensor("float32", data, [1, 3, ph, pw]);
    const outputs = await this.detector.run({ [this.detector.inputNames[0]]: input });
    const faces = decodeDetections(outputs, pw, ph, s.score, s.nms, s.top_k);
    const boxes = faces
      .map((f) => f.box.map((v) => roundHalfEven(v / scale)))
      .filter((b) => Math.min(b[2], b[3]) >= s.min_face);
    return boxes.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  }

  // The 7 class probabilities of each 48x48 face (Uint8Array each): the classifier in one
  // batch, averaged with the mirrored faces' for tta "flip".
  async classify(crops) {
    if (!crops.length) return [];
    const run = async (faces) => {
      const x = new Float32Array(faces.length * IMAGE_SIZE * IMAGE_SIZE);
      faces.forEach((f, i) => x.set(f, i * IMAGE_SIZE * IMAGE_SIZE));
      const t = new this.ort.Tensor("float32", x, [faces.length, IMAGE_SIZE, IMAGE_SIZE, 1]);
      const out = await this.classifier.run({ [this.classifier.inputNames[0]]: t });
      return out[this.classifier.outputNames[0]].data;
    };
    let p = Float64Array.from(await run(crops));
    if (this.settings.tta === "flip") {
      const mirrored = crops.map((f) => {
        const m = new Uint8Array(f.length);
        for (let y = 0; y < IMAGE_SIZE; y++)
          for (let x = 0; x < IMAGE_SIZE; x++)
            m[y * IMAGE_SIZE + x] = f[y * IMAGE_SIZE + IMAGE_SIZE - 1 - x];
        return m;
      });
      const q = await run(mirrored);
      p = p.map((v, i) => (v + q[i]) / 2);
    }
    const n = CLASS_NAMES.length;
    const t = this.settings.temperature;
    return crops.map((_, i) => {
      const row = Array.from(p.slice(i * n, (i + 1) * n));
      return t ? scaleByTemperature(row, t) : row;
    });
  }

  // Every face of an RGBA image: [{box, probs, label}], as `ferflow predict`'s rows.
  async analyse(rgba, width, height) {
    const t0 = performance.now();
    const boxes = await this.detect(rgba, width, height);
    const t1 = performance.now();
    const gray = toGray(rgba, width, height);
    const crops = boxes.map((b) => cropFace(gray, width, height, b, this.settings.margin));
    const probs = await this.classify(crops);
    const t2 = performance.now();
    const faces = boxes.map((box, i) => ({
      box, probs: probs[i], label: CLASS_NAMES[probs[i].indexOf(Math.max(...probs[i]))],
    }));
    return { faces, width, height, detectMs: t1 - t0, classifyMs: t2 - t1 };
  }
}
