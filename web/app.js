// The page: sources (camera, a video file, photos), drawing, messages. The computation is
// ferflow.js's Pipeline; window.ferflow exposes it and the last result to the tests.
import * as ort from "./ort/ort.wasm.min.mjs";
import { CLASS_NAMES, Pipeline } from "./ferflow.js";

ort.env.wasm.wasmPaths = new URL("./ort/", import.meta.url).href;
ort.env.wasm.numThreads = 1; // a folder served without cross-origin isolation: one thread

const $ = (id) => document.getElementById(id);
const view = $("view");
const ctx = view.getContext("2d", { willReadFrequently: true });
const video = $("video");
const state = {
  pipeline: null, running: false, stream: null, frames: [], last: null, photos: [],
  capture: false, captured: [], batches: 0,
};

function say(text, error = false) {
  $("status").textContent = text;
  $("status").className = error ? "error" : "";
}

function frameRGBA(source, width, height) {
  view.width = width;
  view.height = height;
  ctx.drawImage(source, 0, 0, width, height);
  return ctx.getImageData(0, 0, width, height);
}

function draw(result) {
  ctx.lineWidth = Math.max(2, result.width / 320);
  ctx.font = `${Math.max(14, result.width / 40)}px system-ui`;
  for (const f of result.faces) {
    const [x, y, w, h] = f.box;
    const p = Math.max(...f.probs);
    ctx.strokeStyle = "#00e0ff";
    ctx.strokeRect(x, y, w, h);
    const text = `${f.label} ${p.toFixed(2)}`;
    const tw = ctx.measureText(text).width + 8;
    ctx.fillStyle = "rgba(0,0,0,0.65)";
    ctx.fillRect(x, Math.max(0, y - 24), tw, 22);
    ctx.fillStyle = "#fff";
    ctx.fillText(text, x + 4, Math.max(16, y - 7));
  }
  drawBars(result.faces);
  $("faces").innerHTML = result.faces.length
    ? "<tr><th>face</th><th>box</th>" + CLASS_NAMES.map((c) => `<th>${c.slice(0, 3)}</th>`).join("") + "</tr>" +
      result.faces.map((f, i) => `<tr><td>${i}</td><td>${f.box.join(",")}</td>` +
        f.probs.map((p) => `<td>${p.toFixed(2)}</td>`).join("") + "</tr>").join("")
    : "";
}

function drawBars(faces) {
  const c = $("bars").getContext("2d");
  c.clearRect(0, 0, 260, 210);
  c.font = "12px system-ui";
  if (!faces.length) {
    c.fillStyle = "#666";
    c.fillText("no face found", 10, 20);
    return;
  }
  const big = faces.reduce((a, b) => (a.box[2] * a.box[3] >= b.box[2] * b.box[3] ? a : b));
  CLASS_NAMES.forEach((name, i) => {
    const y = 8 + i * 28;
    c.fillStyle = "#222";
    c.fillText(name, 4, y + 14);
    c.fillStyle = "#eee";
    c.fillRect(70, y, 150, 18);
    c.fillStyle = name === big.label ? "#0a84c6" : "#8ab";
    c.fillRect(70, y, 150 * big.probs[i], 18);
    c.fillStyle = "#222";
    c.fillText(big.probs[i].toFixed(2), 224, y + 14);
  });
}

async function analyseFrame(source, width, height) {
  const img = frameRGBA(source, width, height);
  const png = state.capture ? view.toDataURL("image/png") : null; // the frame as analysed (tests)
  const result = await state.pipeline.analyse(img.data, width, height);
  if (png) state.captured.push({ png, result });
  state.last = result;
  draw(result);
  return result;
}

function stop() {
  state.running = false;
  if (state.stream) state.stream.getTracks().forEach((t) => t.stop());
  state.stream = null;
  video.pause();
  $("stop").disabled = true;
}

async function loop(label) {
  state.running = true;
  $("stop").disabled = false;
  let n = 0;
  const t0 = performance.now();
  while (state.running && !video.ended) {
    if (video.readyState >= 2 && video.videoWidth) {
      const r = await analyseFrame(video, video.videoWidth, video.videoHeight);
      n += 1;
      const fps = (1000 * n) / (performance.now() - t0);
      $("fps").textContent = `${fps.toFixed(1)} frames/s · detector ${r.detectMs.toFixed(0)} ms · ` +
        `classifier ${r.classifyMs.toFixed(0)} ms (${r.faces.length} face${r.faces.length === 1 ? "" : "s"})`;
      state.frames.push({ n, fps, detectMs: r.detectMs, classifyMs: r.classifyMs, faces: r.faces.length });
    }
    await new Promise((res) => requestAnimationFrame(res));
  }
  if (state.running) say(`${label}: finished (${n} frames).`);
  stop();
}

async function useCamera() {
  stop();
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    say("This browser gives the page no camera (it needs a secure page: localhost or https).", true);
    return;
  }
  try {
    state.stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
  } catch (e) {
    say(`The camera was refused or is missing (${e.name}): allow it in the browser, or open a video or photos.`, true);
    return;
  }
  video.srcObject = state.stream;
  try {
    await video.play();
  } catch (e) {
    say(`The camera's video did not start (${e.name}).`, true);
    stop();
    return;
  }
  say("Camera: live.");
  loop("Camera");
}

async function openVideo(file) {
  stop();
  if (!file) return;
  if (!file.type.startsWith("video/")) {
    say(`${file.name}: not a video (its type is ${file.type || "unknown"}).`, true);
    return;
  }
  video.srcObject = null;
  video.src = URL.createObjectURL(file);
  try {
    await new Promise((res, rej) => {
      video.onloadeddata = res;
      video.onerror = () => rej(new Error("the browser cannot decode it"));
    });
    await video.play();
  } catch (e) {
    say(`${file.name}: not a video this browser can play (${e.message}).`, true);
    return;
  }
  say(`${file.name}: playing.`);
  loop(file.name);
}

async function openPhotos(files) {
  stop();
  const results = [];
  for (const file of files) {
    if (!file.type.startsWith("image/")) {
      say(`${file.name}: not an image (its type is ${file.type || "unknown"}).`, true);
      continue;
    }
    let bitmap;
    try {
      bitmap = await createImageBitmap(file);
    } catch (e) {
      say(`${file.name}: not an image this browser can read.`, true);
      continue;
    }
    const r = await analyseFrame(bitmap, bitmap.width, bitmap.height);
    results.push({ file: file.name, ...r });
    state.photos.push({ file: file.name, ...r });
    say(`${file.name}: ${r.faces.length} face${r.faces.length === 1 ? "" : "s"} ` +
        `(detector ${r.detectMs.toFixed(0)} ms, classifier ${r.classifyMs.toFixed(0)} ms).`);
  }
  state.batches += 1;
  if (files.length > 1 && results.length) {
    say(`${results.length} of ${files.length} files analysed` +
        (results.length < files.length ? "; the others were not images this browser can read." : "."),
        results.length < files.length);
  }
  return results;
}

window.ferflow = { state, analyseFrame, openPhotos, openVideo, useCamera, stop, ready: null };

window.ferflow.ready = (async () => {
  try {
    state.pipeline = await Pipeline.load(ort, new URL("./", import.meta.url));
    $("model-name").textContent = state.pipeline.settings.model.name;
    say("Ready: use the camera, or open a video or photos.");
    $("camera").onclick = useCamera;
    $("video-file").onchange = (e) => openVideo(e.target.files[0]);
    $("photo-files").onchange = (e) => openPhotos([...e.target.files]);
    $("stop").onclick = () => { stop(); say("Stopped."); };
    return true;
  } catch (e) {
    say(`The page cannot start: ${e.message}`, true);
    for (const id of ["camera", "video-file", "photo-files"]) $(id).disabled = true;
    return false;
  }
})();
