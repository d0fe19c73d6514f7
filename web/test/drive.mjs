// Drives the page in Debian's headless Chromium (playwright-core) for tests/test_web.py:
//   node web/test/drive.mjs SPEC.json
// SPEC: {url, mode: "photos" | "camera" | "video" | "load", files: [...], y4m, frames,
//        capture, screenshot, out}. Writes OUT (JSON): the page's results, its status line,
// every request it made, console errors.
import { readFileSync, writeFileSync } from "node:fs";
import { chromium } from "playwright-core";

const spec = JSON.parse(readFileSync(process.argv[2], "utf8"));
const args = ["--no-sandbox"];
if (spec.mode === "camera") {
  // a fake camera; its permission granted below, or (deny_camera) refused at the prompt
  args.push("--use-fake-device-for-media-stream");
  if (!spec.deny_camera) args.push("--use-fake-ui-for-media-stream");
  if (spec.y4m) args.push(`--use-file-for-fake-video-capture=${spec.y4m}`);
}
if (spec.deny_camera) args.push("--deny-permission-prompts");
const browser = await chromium.launch({ executablePath: spec.chromium || "/usr/bin/chromium", args });
const out = { requests: [], console: [], results: null, status: null };
try {
  const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  if (spec.mode === "camera" && !spec.deny_camera) await context.grantPermissions(["camera"]);
  const page = await context.newPage();
  page.on("request", (r) => out.requests.push(r.url()));
  page.on("console", (m) => { if (m.type() === "error") out.console.push(m.text()); });
  page.on("pageerror", (e) => out.console.push(String(e)));
  await page.goto(spec.url);
  const ready = await page.evaluate(() => window.ferflow.ready);
  out.ready = ready;
  if (ready && spec.capture) await page.evaluate(() => { window.ferflow.state.capture = true; });
  if (ready && spec.mode === "photos") {
    await page.setInputFiles("#photo-files", spec.files);
    await page.waitForFunction(() => window.ferflow.state.batches >= 1, null, { timeout: 120000 });
    out.results = await page.evaluate(() => window.ferflow.state.photos);
  } else if (ready && spec.mode === "video") {
    await page.setInputFiles("#video-file", spec.files);
    await page.waitForFunction(() => !window.ferflow.state.running && (window.ferflow.state.frames.length > 0 || document.querySelector("#status").className === "error"), null, { timeout: 180000 });
    out.results = await page.evaluate(() => window.ferflow.state.frames);
  } else if (ready && spec.mode === "camera") {
    await page.click("#camera");
    await page.waitForFunction((n) => window.ferflow.state.frames.length >= n || document.querySelector("#status").className === "error",
      spec.frames || 5, { timeout: 180000 });
    out.results = await page.evaluate(() => window.ferflow.state.frames);
    await page.evaluate(() => window.ferflow.stop());
  }
  if (spec.capture) out.captured = await page.evaluate(() => window.ferflow.state.captured);
  out.status = await page.textContent("#status");
  out.statusClass = await page.getAttribute("#status", "class");
  if (spec.screenshot) await page.screenshot({ path: spec.screenshot, fullPage: true });
} finally {
  await browser.close();
}
writeFileSync(spec.out, JSON.stringify(out));
