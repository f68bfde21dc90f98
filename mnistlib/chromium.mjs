// Drives the demo page (mnistlib/webapp) in headless Chromium through playwright-core, for
// mnistlib.web.drive:   node mnistlib/chromium.mjs JOB.json RESULT.json
//
// JOB.json: {url, chromium, viewport: [w, h], touch, batch: {json, bin}, latency: {n, warmup},
// draw: {strokes, screenshot}}. The batch's images (RGBA, listed in batch.json) reach the page as
// files of its own origin (_batch/0, _batch/1, …), and each goes through window.classifyDigit.
// Every request the page makes is recorded, and any that would leave the local server is refused.
import { readFileSync, writeFileSync } from "node:fs";
import { chromium } from "playwright-core";

const [jobFile, resultFile] = process.argv.slice(2);
const job = JSON.parse(readFileSync(jobFile, "utf8"));
const origin = new URL(job.url).origin;
const FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];

const browser = await chromium.launch({ executablePath: job.chromium, headless: true, args: FLAGS });
const result = { requests: [], refused: [], console: [], errors: [] };
const batchImages = job.batch ? JSON.parse(readFileSync(job.batch.json, "utf8")).images : [];
const batchBytes = job.batch ? readFileSync(job.batch.bin) : null;
try {
  const [w, h] = job.viewport ?? [1280, 800];
  const context = await browser.newContext({
    viewport: { width: w, height: h }, hasTouch: !!job.touch, isMobile: !!job.touch,
    deviceScaleFactor: job.touch ? 3 : 1, serviceWorkers: "block" });
  context.on("request", (r) => result.requests.push(r.url()));
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (!url.startsWith(origin + "/")) {
      result.refused.push(url);
      return route.abort();
    }
    if (job.batch && url.startsWith(`${origin}/_batch/`)) {  // one image's RGBA bytes
      const { width, height, offset } = batchImages[Number(url.split("/").pop())];
      return route.fulfill({ body: batchBytes.subarray(offset, offset + width * height * 4),
                             contentType: "application/octet-stream" });
    }
    return route.continue();
  });
  const page = await context.newPage();
  page.on("console", (m) => result.console.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => result.errors.push(String(e)));
  await page.goto(job.url, { waitUntil: "load" });
  result.user_agent = await page.evaluate(() => navigator.userAgent);
  await page.evaluate(() => window.demoReady);

  if (job.batch) {
    const images = batchImages;
    const rounds = job.latency ? job.latency.warmup + job.latency.n : images.length;
    result.results = await page.evaluate(async ({ images, rounds }) => {
      const out = [], cache = new Map();
      for (let k = 0; k < rounds; k++) {
        const i = k % images.length, { width, height } = images[i];
        if (!cache.has(i)) cache.set(i, await (await fetch(`_batch/${i}`)).arrayBuffer());
        if (cache.size > 50) cache.delete(cache.keys().next().value);
        const data = new Uint8ClampedArray(cache.get(i).slice(0));
        try {
          out.push(await window.classifyDigit(new ImageData(data, width, height)));
        } catch (e) {
          out.push({ error: e.message });
        }
      }
      return out;
    }, { images, rounds });
  }
  if (job.latency) {
    const { n, warmup } = job.latency;
    const timed = result.results.slice(warmup).filter((r) => !r.error);
    const model = await page.evaluate(
      async ({ n, warmup }) => (await window.timeModel(n + warmup)).slice(warmup), { n, warmup });
    const med = (a) => { const s = [...a].sort((x, y) => x - y), m = s.length >> 1;
      return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
    result.latency = {
      n: timed.length, warmup,
      total_p50_ms: med(timed.map((r) => r.timings.total_ms)),
      preprocess_p50_ms: med(timed.map((r) => r.timings.preprocess_ms)),
      model_p50_ms: med(model),  // per call, over n blocks of 10 calls
      model_blocks: model.length,
    };
    delete result.results;
  }
  if (job.draw) {
    const box = await page.locator("#pad").boundingBox();
    const scale = box.width / 280;
    const xy = ([x, y]) => [box.x + x * scale, box.y + y * scale];
    const cdp = job.touch ? await context.newCDPSession(page) : null;
    for (const stroke of job.draw.strokes) {
      const points = stroke.map(xy);
      if (cdp) {
        const touch = (type, [x, y]) => cdp.send("Input.dispatchTouchEvent",
          { type, touchPoints: type === "touchEnd" ? [] : [{ x, y, radiusX: 4, radiusY: 4 }] });
        await touch("touchStart", points[0]);
        for (const p of points.slice(1)) await touch("touchMove", p);
        await touch("touchEnd", points.at(-1));
      } else {
        await page.mouse.move(...points[0]);
        await page.mouse.down();
        for (const p of points.slice(1)) await page.mouse.move(...p);
        await page.mouse.up();
      }
    }
    await page.waitForFunction(() => document.getElementById("digit").textContent !== "–");
    await page.waitForTimeout(300);  // the answer for the last stroke
    result.drawn = await page.evaluate(() => ({
      digit: document.getElementById("digit").textContent,
      confidence: document.getElementById("confidence").textContent,
      timing: document.getElementById("timing").textContent }));
    if (job.draw.screenshot) await page.screenshot({ path: job.draw.screenshot, fullPage: true });
  }
  await context.close();
} finally {
  await browser.close();
}
writeFileSync(resultFile, JSON.stringify(result));
