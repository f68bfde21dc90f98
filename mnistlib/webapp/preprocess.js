// A drawing (any ImageData) to the 28×28 digit the model reads: the same steps as Python's
// mnistlib/images.py, and in the same arithmetic, so that the page and `predict` agree.
//
// Each function names the scipy, NumPy or Pillow call it reproduces. Arrays are Float32Array,
// rounded after every step as NumPy's float32 arithmetic is; sums are accumulated in doubles
// as those libraries do. An ES module, imported by the page and by node in the tests.

export const WORK_SIDE = 1024, BOX = 20, SIDE = 28, CENTRE = 14.0, STROKE = 2.8;
export const MIN_CONTRAST = 0.1, NOISE_SIGMAS = 5, SPECK_FRACTION = 0.1;
export const PAGE_LEVEL = 2 / 255, CENTRE_TOLERANCE = 1.0;

export class ImageError extends Error {}

const f32 = Math.fround;

// A grey image: Float32Array data, row-major, with its height and width.
function image(h, w, data = new Float32Array(h * w)) { return { h, w, data }; }

// Python's round(): halves go to the even neighbour.
export function roundHalfEven(x) {
  const r = Math.round(x);
  return (r - x === 0.5 && r % 2 !== 0) ? r - 1 : r;
}

// Pillow's Image.alpha_composite(white, im) then convert("L"), for RGBA bytes.
// Integer arithmetic as in Pillow's AlphaComposite.c and Convert.c (ITU-R 601-2 luma).
export function greyFromRGBA(rgba, width, height) {
  const out = image(height, width);
  const PREC = 7, half = 0x80 << PREC;
  const div255 = (a) => (((a >>> 8) + a) >>> 8);
  for (let i = 0, j = 0; j < out.data.length; i += 4, j++) {
    const a = rgba[i + 3];
    if (a === 255) {  // opaque: compositing changes nothing
      out.data[j] = ((rgba[i] * 19595 + rgba[i + 1] * 38470 + rgba[i + 2] * 7471 + 0x8000) >>> 16) / 255;
      continue;
    }
    const outa255 = a * 255 + 255 * (255 - a);
    const coef1 = Math.floor(a * 255 * 255 * (1 << PREC) / outa255);
    const coef2 = 255 * (1 << PREC) - coef1;
    const c = (v) => div255(v * coef1 + 255 * coef2 + half) >>> PREC;
    const L = (c(rgba[i]) * 19595 + c(rgba[i + 1]) * 38470 + c(rgba[i + 2]) * 7471 + 0x8000) >>> 16;
    out.data[j] = f32(L / 255);
  }
  return out;
}

// scipy.ndimage's mode "reflect": d c b a | a b c d | d c b a.
function reflect(i, n) {
  if (n === 1) return 0;
  const period = 2 * n;
  i %= period;
  if (i < 0) i += period;
  return i < n ? i : period - 1 - i;
}

// One pass along an axis: `count` lines of `length` pixels; pixel k of line l is at
// start(l) + k * step. `source[k]` is the line's pixel for position k of a window filter whose
// first output needs the window starting at -before (the line extended by reflection).
function axisPass(img, axis, size, before, filter) {
  const { h, w } = img;
  const [count, length, lineStep, step] = axis === 0 ? [w, h, 1, w] : [h, w, w, 1];
  const source = new Int32Array(length + size - 1);
  for (let k = 0; k < source.length; k++) source[k] = reflect(k - before, length) * step;
  const out = image(h, w);
  const ext = new Float64Array(source.length);
  for (let line = 0; line < count; line++) {
    const start = line * lineStep;
    for (let k = 0; k < ext.length; k++) ext[k] = img.data[start + source[k]];
    filter(ext, out.data, start, step, length, size);
  }
  return out;
}

// scipy.ndimage.uniform_filter1d: a running mean in doubles, stored as float32.
function runningMean(ext, out, start, step, length, size) {
  let tmp = 0;
  for (let k = 0; k < size; k++) tmp += ext[k];
  tmp /= size;
  out[start] = tmp;
  for (let k = 1; k < length; k++) {
    tmp += (ext[k + size - 1] - ext[k - 1]) / size;
    out[start + k * step] = tmp;
  }
}

// scipy.ndimage.minimum_filter1d / maximum_filter1d by van Herk / Gil-Werman: in blocks of
// `size`, the running extreme from each block's start (fwd) and to its end (bwd); a window is
// the tail of one block and the head of the next. Three comparisons a pixel, whatever the size.
let fwd = new Float64Array(0), bwd = new Float64Array(0);
function runningMax(ext, out, start, step, length, size) {
  const n = ext.length;
  if (fwd.length < n) { fwd = new Float64Array(n); bwd = new Float64Array(n); }
  for (let b = 0; b < n; b += size) {
    const end = Math.min(b + size, n);
    fwd[b] = ext[b];
    for (let k = b + 1; k < end; k++) fwd[k] = fwd[k - 1] > ext[k] ? fwd[k - 1] : ext[k];
    bwd[end - 1] = ext[end - 1];
    for (let k = end - 2; k >= b; k--) bwd[k] = bwd[k + 1] > ext[k] ? bwd[k + 1] : ext[k];
  }
  for (let k = 0, o = start; k < length; k++, o += step) {
    const x = bwd[k], y = fwd[k + size - 1];
    out[o] = x > y ? x : y;
  }
}
function runningMin(ext, out, start, step, length, size) {
  const n = ext.length;
  if (fwd.length < n) { fwd = new Float64Array(n); bwd = new Float64Array(n); }
  for (let b = 0; b < n; b += size) {
    const end = Math.min(b + size, n);
    fwd[b] = ext[b];
    for (let k = b + 1; k < end; k++) fwd[k] = fwd[k - 1] < ext[k] ? fwd[k - 1] : ext[k];
    bwd[end - 1] = ext[end - 1];
    for (let k = end - 2; k >= b; k--) bwd[k] = bwd[k + 1] < ext[k] ? bwd[k + 1] : ext[k];
  }
  for (let k = 0, o = start; k < length; k++, o += step) {
    const x = bwd[k], y = fwd[k + size - 1];
    out[o] = x < y ? x : y;
  }
}

function uniform1d(img, size, axis) {
  return axisPass(img, axis, size, Math.floor(size / 2), runningMean);
}

// scipy.ndimage.uniform_filter (axis 0, then axis 1).
export function uniformFilter(img, size) { return uniform1d(uniform1d(img, size, 0), size, 1); }

function minmax1d(img, size, axis, origin, isMax) {
  return axisPass(img, axis, size, Math.floor(size / 2) + origin, isMax ? runningMax : runningMin);
}

// scipy.ndimage.grey_erosion / grey_dilation with a flat square `size`: separable; dilation
// mirrors the window, so an even size shifts its origin by one (as scipy does).
export function greyErosion(img, size) { return minmax1d(minmax1d(img, size, 0, 0, false), size, 1, 0, false); }
export function greyDilation(img, size) {
  const o = size % 2 === 0 ? -1 : 0;
  return minmax1d(minmax1d(img, size, 0, o, true), size, 1, o, true);
}
export function greyOpening(img, size) { return greyDilation(greyErosion(img, size), size); }

// The k-th smallest of a (0-based), by quickselect; a is reordered.
function select(a, k) {
  let lo = 0, hi = a.length - 1;
  while (hi > lo) {
    const pivot = a[(lo + hi) >> 1];
    let i = lo, j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) { const t = a[i]; a[i] = a[j]; a[j] = t; i++; j--; }
    }
    if (k <= j) hi = j; else if (k >= i) lo = i; else return a[k];
  }
  return a[k];
}

// The k-th and (k+1)-th smallest values.
function pair(values, k) {
  const a = Float32Array.from(values);
  const first = select(a, k);
  if (k + 1 >= a.length) return [first, first];
  let next = Infinity;  // after select, everything right of k is >= a[k]
  for (let i = k + 1; i < a.length; i++) if (a[i] < next) next = a[i];
  return [first, next];
}

// numpy.percentile of float32 values, method "linear" (numpy's _lerp, in float32).
export function percentile(values, q) {
  const pos = (q / 100) * (values.length - 1);
  const lo = Math.floor(pos), t = pos - lo;
  const [a, b] = pair(values, lo), diff = f32(b - a);
  return t >= 0.5 ? f32(b - f32(diff * (1 - t))) : f32(a + f32(diff * t));
}

// numpy.median of float32 values: the middle one, or the float32 mean of the middle two.
export function median(values) {
  const mid = values.length >> 1;
  if (values.length % 2) return pair(values, mid)[0];
  const [a, b] = pair(values, mid - 1);
  return f32(f32(a + b) / 2);
}

function borders(img, b) {
  const { h, w, data } = img, out = [];
  for (let r = 0; r < b; r++) for (let c = 0; c < w; c++) out.push(data[r * w + c]);
  for (let r = h - b; r < h; r++) for (let c = 0; c < w; c++) out.push(data[r * w + c]);
  for (let r = 0; r < h; r++) for (let c = 0; c < b; c++) out.push(data[r * w + c]);
  for (let r = 0; r < h; r++) for (let c = w - b; c < w; c++) out.push(data[r * w + c]);
  return out;
}

function map(img, fn) {
  const out = image(img.h, img.w), src = img.data, dst = out.data;
  for (let i = 0; i < src.length; i++) dst[i] = fn(src[i], i);
  return out;
}
function max(a) { let m = -Infinity; for (let i = 0; i < a.length; i++) if (a[i] > m) m = a[i]; return m; }
function min(a) { let m = Infinity; for (let i = 0; i < a.length; i++) if (a[i] < m) m = a[i]; return m; }

// images.as_mnist: the image itself when it is already in MNIST's format, else null.
export function asMnist(grey) {
  if (grey.h !== SIDE || grey.w !== SIDE) return null;
  const x = median(borders(grey, 1)) > 0.5 ? map(grey, (v) => 1 - v) : grey;
  let top = SIDE, bottom = -1, left = SIDE, right = -1;
  for (let r = 0; r < SIDE; r++) for (let c = 0; c < SIDE; c++) {
    if (x.data[r * SIDE + c] > PAGE_LEVEL) {
      top = Math.min(top, r); bottom = Math.max(bottom, r);
      left = Math.min(left, c); right = Math.max(right, c);
    }
  }
  if (bottom < 0 || Math.max(bottom - top, right - left) + 1 > BOX) return null;
  const [cy, cx] = centreOfMass(x);
  if (Math.max(Math.abs(cy - CENTRE), Math.abs(cx - CENTRE)) > CENTRE_TOLERANCE) return null;
  return Uint8Array.from(x.data, (v) => roundHalfEven(f32(v * 255)));
}

// images.ink_map: ink as bright values on 0, whatever the polarity, lighting and paper.
export function inkMap(grey) {
  let smooth = uniformFilter(grey, 3);
  const b = Math.max(1, Math.floor(Math.min(grey.h, grey.w) / 20));
  const page = median(borders(grey, b));
  if (page - min(smooth.data) > max(smooth.data) - page) {
    grey = map(grey, (v) => 1 - v);
    smooth = map(smooth, (v) => 1 - v);
  }
  const size = Math.max(3, Math.floor(Math.min(grey.h, grey.w) / 4));
  const background = uniformFilter(greyOpening(smooth, size), size);
  const ink = map(grey, (v, i) => v - background.data[i]);
  const level = median(ink.data);
  const noise = f32(1.4826 * median(map(ink, (v) => Math.abs(v - level)).data));
  const peak = max(uniformFilter(ink, 3).data);
  if (f32(peak - level) <= Math.max(MIN_CONTRAST, f32(NOISE_SIGMAS * noise))) {
    throw new ImageError("no digit found: the image is blank (nearly uniform)");
  }
  const low = Math.max(f32(level + f32(NOISE_SIGMAS * noise)), f32(level + f32(0.25 * f32(peak - level))));
  const high = percentile(ink.data.filter((v) => v >= low), 75);  // the ink's own pixels
  const span = f32(Math.max(f32(high - low), 1e-6));
  return map(ink, (v) => Math.min(Math.max(f32(v - low) / span, 0), 1));
}

// scipy.ndimage.label of the pixels above 0, with 8-connectivity (the 3×3 structure): a
// flood fill that numbers the blobs in the order scipy does (row-major first pixels).
function label(ink, h, w) {
  const labels = new Int32Array(h * w), stack = new Int32Array(h * w);
  let n = 0;
  for (let start = 0; start < h * w; start++) {
    if (!(ink[start] > 0) || labels[start]) continue;
    labels[start] = ++n;
    let top = 0;
    stack[top++] = start;
    while (top) {
      const p = stack[--top], r = (p / w) | 0, c = p - r * w;
      for (let rr = Math.max(r - 1, 0); rr <= Math.min(r + 1, h - 1); rr++) {
        for (let cc = Math.max(c - 1, 0); cc <= Math.min(c + 1, w - 1); cc++) {
          const q = rr * w + cc;
          if (ink[q] > 0 && !labels[q]) { labels[q] = n; stack[top++] = q; }
        }
      }
    }
  }
  return { labels, n };
}

// images.drop_specks: keep the blobs with at least SPECK_FRACTION of the largest one's ink.
export function dropSpecks(ink) {
  const { labels, n } = label(ink.data, ink.h, ink.w);
  const mass = new Float64Array(n + 1);
  for (let i = 0; i < ink.data.length; i++) mass[labels[i]] += ink.data[i];
  let biggest = 0;
  for (let k = 1; k <= n; k++) biggest = Math.max(biggest, mass[k]);
  return map(ink, (v, i) => (labels[i] && mass[labels[i]] >= SPECK_FRACTION * biggest ? v : 0));
}

function crop(img) {
  let top = img.h, bottom = -1, left = img.w, right = -1;
  for (let r = 0; r < img.h; r++) for (let c = 0; c < img.w; c++) {
    if (img.data[r * img.w + c] !== 0) {
      top = Math.min(top, r); bottom = Math.max(bottom, r);
      left = Math.min(left, c); right = Math.max(right, c);
    }
  }
  const out = image(bottom - top + 1, right - left + 1);
  for (let r = 0; r < out.h; r++) {
    out.data.set(img.data.subarray((top + r) * img.w + left, (top + r) * img.w + right + 1), r * out.w);
  }
  return out;
}

function pad(img, n) {
  const out = image(img.h + 2 * n, img.w + 2 * n);
  for (let r = 0; r < img.h; r++) out.data.set(img.data.subarray(r * img.w, (r + 1) * img.w), (r + n) * out.w + n);
  return out;
}

// MNIST's stroke width estimate: 2·area / outline, the outline being what
// scipy.ndimage.binary_erosion (cross structure, outside counted as empty) removes.
function strokeWidth(img) {
  const { h, w, data } = img;
  const on = (r, c) => r >= 0 && r < h && c >= 0 && c < w && data[r * w + c] > 0.5;
  let area = 0, outline = 0;
  for (let r = 0; r < h; r++) for (let c = 0; c < w; c++) {
    if (!on(r, c)) continue;
    area++;
    if (!(on(r - 1, c) && on(r + 1, c) && on(r, c - 1) && on(r, c + 1))) outline++;
  }
  return 2 * area / Math.max(1, outline);
}

// Pillow's resampling filters (Resample.c): Lanczos with support 3, and the box filter.
function sinc(x) { if (x === 0) return 1; x *= Math.PI; return Math.sin(x) / x; }
const FILTERS = {
  lanczos: { support: 3, fn: (x) => (x >= -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0) },
  box: { support: 0.5, fn: (x) => (x > -0.5 && x <= 0.5 ? 1 : 0) },
};

// Pillow's precompute_coeffs: for each output pixel, the first input pixel and the weights.
function coefficients(inSize, outSize, filter) {
  const scale = inSize / outSize, filterscale = Math.max(scale, 1);
  const support = filter.support * filterscale;
  const result = [];
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale, ss = 1 / filterscale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    const k = new Float64Array(xmax);
    let ww = 0;
    for (let x = 0; x < xmax; x++) { k[x] = filter.fn((x + xmin - center + 0.5) * ss); ww += k[x]; }
    if (ww !== 0) for (let x = 0; x < xmax; x++) k[x] /= ww;
    result.push({ xmin, k });
  }
  return result;
}

// Pillow's Image.resize of a float ("F") image: the horizontal pass, then the vertical one,
// each skipped when that side keeps its size.
export function resize(img, w, h, filterName = "lanczos") {
  const filter = FILTERS[filterName];
  let cur = img;
  if (w !== cur.w) {
    const co = coefficients(cur.w, w, filter), out = image(cur.h, w);
    for (let r = 0; r < cur.h; r++) for (let xx = 0; xx < w; xx++) {
      const { xmin, k } = co[xx];
      let ss = 0;
      for (let x = 0; x < k.length; x++) ss += cur.data[r * cur.w + xmin + x] * k[x];
      out.data[r * w + xx] = ss;
    }
    cur = out;
  }
  if (h !== cur.h) {
    const co = coefficients(cur.h, h, filter), out = image(h, cur.w);
    for (let yy = 0; yy < h; yy++) for (let c = 0; c < cur.w; c++) {
      const { xmin, k } = co[yy];
      let ss = 0;
      for (let y = 0; y < k.length; y++) ss += cur.data[(xmin + y) * cur.w + c] * k[y];
      out.data[yy * cur.w + c] = ss;
    }
    cur = out;
  }
  return cur;
}

// scipy.ndimage.center_of_mass: (row, column).
export function centreOfMass(img) {
  let total = 0, rows = 0, cols = 0;
  for (let r = 0; r < img.h; r++) for (let c = 0; c < img.w; c++) {
    const v = img.data[r * img.w + c];
    total += v; rows += v * r; cols += v * c;
  }
  return [rows / total, cols / total];
}

// images.to_mnist: crop to the ink, fit into 20×20 keeping the aspect ratio, thickening a thin
// pen to MNIST's stroke first, and centre by mass in 28×28. uint8 [784], row-major.
export function toMnist(ink) {
  ink = crop(ink);
  const grow = Math.trunc(roundHalfEven(STROKE * Math.max(ink.h, ink.w) / BOX - strokeWidth(ink)));
  if (grow > 0) ink = crop(greyDilation(pad(ink, grow), grow + 1));
  const scale = BOX / Math.max(ink.h, ink.w);
  const h = Math.max(1, roundHalfEven(ink.h * scale)), w = Math.max(1, roundHalfEven(ink.w * scale));
  const small = map(resize(ink, w, h), (v) => Math.min(Math.max(v, 0), 1));
  const [cy, cx] = centreOfMass(small);
  const top = Math.min(Math.max(roundHalfEven(CENTRE - cy), 0), SIDE - h);
  const left = Math.min(Math.max(roundHalfEven(CENTRE - cx), 0), SIDE - w);
  const out = new Uint8Array(SIDE * SIDE);
  for (let r = 0; r < h; r++) for (let c = 0; c < w; c++) {
    out[(top + r) * SIDE + left + c] = roundHalfEven(f32(small.data[r * w + c] * 255));
  }
  return out;
}

// Pillow's Image.thumbnail size: fit in side × side, keeping the aspect ratio as closely as
// whole pixels allow.
function thumbnailSize(w, h, side) {
  if (w <= side && h <= side) return [w, h];
  const aspect = w / h;
  const roundAspect = (n, key) => {
    const lo = Math.max(Math.floor(n), 1), hi = Math.max(Math.ceil(n), 1);
    return key(lo) <= key(hi) ? lo : hi;
  };
  if (1 >= aspect) {  // a square box: a tall image keeps its height
    return [roundAspect(side * aspect, (n) => Math.abs(aspect - n / side)), side];
  }
  return [side, roundAspect(side / aspect, (n) => (n === 0 ? 0 : Math.abs(aspect - side / n)))];
}

// images.read_grey for pixels already decoded: grey levels in [0, 1] on white. A large image is
// shrunk with a box filter as Pillow's thumbnail does (on the grey image here, not on the
// colours: the same to within rounding).
export function readGrey(rgba, width, height) {
  const grey = greyFromRGBA(rgba, width, height);
  const [w, h] = thumbnailSize(width, height, WORK_SIDE);
  return w === width && h === height ? grey : resize(grey, w, h, "box");
}

// images.load_digit for an ImageData (or any {data, width, height} of RGBA bytes).
export function preprocess({ data, width, height }) {
  const grey = readGrey(data, width, height);
  return asMnist(grey) ?? toMnist(dropSpecks(inkMap(grey)));
}
