// For tests/test_web.py: ferflow.js's grayscale conversion and crops of an image, in Node.
//   node web/test/crops.mjs IN.json OUT.json
// IN: {width, height, rgba: [...], boxes: [[x, y, w, h], ...], margin}; OUT: {gray, crops}.
import { readFileSync, writeFileSync } from "node:fs";
import { cropFace, toGray } from "../ferflow.js";

const spec = JSON.parse(readFileSync(process.argv[2], "utf8"));
const gray = toGray(Uint8Array.from(spec.rgba), spec.width, spec.height);
const crops = spec.boxes.map((b) => Array.from(cropFace(gray, spec.width, spec.height, b, spec.margin)));
writeFileSync(process.argv[3], JSON.stringify({ gray: Array.from(gray), crops }));
