// The demo page: draw on the canvas, and the model answers while you draw.
//
// window.classifyDigit(imageData) is the page's interface for tests and for other pages: any
// ImageData (any size, dark ink on light or the reverse) goes through the same path as the
// canvas, and the Promise gives {digit, confidence, probabilities, image, timings}.
import { ImageError, SIDE, preprocess } from "./preprocess.js";

const PEN = 18;                    // pixels on the 280×280 canvas: about a fingertip
const MEAN = 0.1307, STD = 0.3081; // mnistlib.data's "standard" normalization
const f32 = Math.fround;
const $ = (id) => document.getElementById(id);

let session, info;
const ready = (async () => {
  info = await (await fetch("demo.json")).json();
  ort.env.wasm.wasmPaths = new URL("ort/", location.href).href;
  ort.env.wasm.numThreads = 1;     // one image at a time: threads would only cost
  session = await ort.InferenceSession.create("model.onnx", {
    executionProviders: ["wasm"], graphOptimizationLevel: "all" });
  return session;
})();

// The network's input for a uint8 digit, as mnistlib.data.normalize makes it.
function normalize(digit) {
  const x = new Float32Array(digit.length);
  for (let i = 0; i < digit.length; i++) {
    const v = digit[i];
    x[i] = info.normalization === "none" ? v
      : info.normalization === "unit" ? f32(v / 255) : f32(f32(f32(v / 255) - MEAN) / STD);
  }
  return x;
}

function softmax(logits) {
  const m = Math.max(...logits), e = Array.from(logits, (v) => Math.exp(v - m));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
}

// One inference at a time, in the order asked: a session runs one call at once.
let queue = Promise.resolve();
function serial(fn) {
  const run = queue.then(fn);
  queue = run.catch(() => {});
  return run;
}

async function run(x) {
  const input = new ort.Tensor("float32", x, [1, 1, SIDE, SIDE]);
  const out = await session.run({ [session.inputNames[0]]: input });
  return out[session.outputNames[0]].data;
}

window.classifyDigit = (imageData) => serial(async () => {
  await ready;
  const t0 = performance.now();
  const digit28 = preprocess(imageData);
  const t1 = performance.now();
  const logits = await run(normalize(digit28));
  const t2 = performance.now();
  const probabilities = softmax(logits);
  const digit = probabilities.indexOf(Math.max(...probabilities));
  return { digit, confidence: probabilities[digit], probabilities, image: Array.from(digit28),
           timings: { preprocess_ms: t1 - t0, model_ms: t2 - t1, total_ms: t2 - t0 } };
});

// The model alone on one digit, n blocks of `block` calls: milliseconds per call in each block
// (for the latency figure; a browser's clock counts in steps of 0.1 ms, a block in finer ones).
window.timeModel = (n, block = 10, digit28 = new Uint8Array(SIDE * SIDE)) => serial(async () => {
  await ready;
  const x = normalize(digit28), times = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    for (let k = 0; k < block; k++) await run(x);
    times.push((performance.now() - t) / block);
  }
  return times;
});
window.demoReady = ready.then(() => info);

// --- The page -------------------------------------------------------------------------------
const pad = $("pad"), ctx = pad.getContext("2d", { willReadFrequently: true });
const seen = $("seen").getContext("2d");
const bars = Array.from({ length: 10 }, (_, d) => {
  const bar = document.createElement("div");
  bar.className = "bar";
  bar.innerHTML = `<i></i><span>${d}</span>`;
  $("bars").append(bar);
  return bar;
});
const modelTimes = [];

function median(a) {
  const s = [...a].sort((x, y) => x - y), m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function show(r) {
  bars.forEach((bar, d) => {
    bar.classList.toggle("best", !!r && d === r.digit);
    bar.firstChild.style.height = r ? `${100 * r.probabilities[d]}%` : "0";
    bar.title = r ? `${d}: ${(100 * r.probabilities[d]).toFixed(1)} %` : "";
  });
  $("digit").textContent = r ? r.digit : "–";
  $("confidence").textContent = r ? `${(100 * r.confidence).toFixed(1)} % sure` : "\u00a0";
  const pixels = seen.createImageData(SIDE, SIDE);
  if (r) r.image.forEach((v, i) => pixels.data.set([v, v, v, 255], 4 * i));
  seen.putImageData(pixels, 0, 0);
  if (r) {
    modelTimes.push(r.timings.model_ms);
    $("timing").textContent = `This answer: model ${r.timings.model_ms.toFixed(2)} ms, ` +
      `preprocessing ${r.timings.preprocess_ms.toFixed(1)} ms. Median model time over ` +
      `${modelTimes.length}: ${median(modelTimes).toFixed(2)} ms.`;
  }
}

function clear() {
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, pad.width, pad.height);
  show(null);
}

let busy = false, again = false;
async function update() {
  if (busy) { again = true; return; }
  busy = true;
  do {
    again = false;
    try {
      show(await window.classifyDigit(ctx.getImageData(0, 0, pad.width, pad.height)));
    } catch (e) {
      show(null);
      if (!(e instanceof ImageError)) $("timing").textContent = `Error: ${e.message}`;
    }
  } while (again);
  busy = false;
}

function at(e) {
  const r = pad.getBoundingClientRect();
  return [(e.clientX - r.left) * pad.width / r.width, (e.clientY - r.top) * pad.height / r.height];
}

let last = null;
function line(from, to) {
  ctx.beginPath();
  ctx.moveTo(...from);
  ctx.lineTo(...to);
  ctx.stroke();
}

pad.addEventListener("pointerdown", (e) => {
  e.preventDefault();
  pad.setPointerCapture(e.pointerId);
  last = at(e);
  line(last, last);
  update();
});
pad.addEventListener("pointermove", (e) => {
  if (!last) return;
  for (const ev of e.getCoalescedEvents ? e.getCoalescedEvents() : [e]) {
    const p = at(ev);
    line(last, p);
    last = p;
  }
  update();  // the answer follows the pen
});
for (const type of ["pointerup", "pointercancel"]) {
  pad.addEventListener(type, () => {
    if (!last) return;
    last = null;
    update();  // and is final at the end of every stroke
  });
}
$("clear").addEventListener("click", clear);
document.addEventListener("keydown", (e) => { if (e.key === "Escape") clear(); });

Object.assign(ctx, { lineWidth: PEN, lineCap: "round", lineJoin: "round", strokeStyle: "#000" });
clear();
ready.then(() => {
  const q = info.quantization === "int8" ? "int8" : "fp32";
  const acc = (100 * info.val_accuracy[q]).toFixed(2);
  $("timing").textContent = "Ready: draw a digit.";
  $("about").textContent = `Model: the ${info.recipe ?? "trained"} recipe, ${q}, ` +
    `${acc} % on MNIST's validation digits; ONNX Runtime Web ${info.onnxruntime_web} ` +
    "(WebAssembly, one thread). Everything runs in this page: nothing you draw leaves it.";
}, (e) => { $("timing").textContent = `The model did not load: ${e.message}`; });
