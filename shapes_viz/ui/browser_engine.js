// The network in the browser: shapes_viz.preprocessing.preprocess and the numpy engine's forward pass, ported.
//
// Pure functions, no DOM; live_canvas.py puts this file in front of live_canvas.js (one ES module).
//   svPreprocess(rgba, width, height) -> Float32Array(28*28*3), HWC, ink 0 paper 1; null for "no shape".
//   svUnpack(payload, buffer) -> net     (payload: shapes_viz.engine.export's dict; buffer: its float32 data)
//   svForward(net, x, off) -> {outputs: [Float32Array per layer, HWC or vector], probabilities: Float64Array}
// Float32 where numpy rounds to float32 (Math.fround), so that thresholds decide alike; sums in double
// (Pillow's resampling does the same; numpy's float32 BLAS differs from a double sum by ~1e-7).

const SV_SIZE = 28;
const SV_CONTENT_FRACTION = 22 / 28;
const SV_INK_THRESHOLD = 0.25;
const SV_MIN_CONTRAST = 0.08;
const SV_MIN_DRAWING_FRACTION = 0.02;
const SV_F = Math.fround;
const SV_GRAY = [SV_F(0.299), SV_F(0.587), SV_F(0.114)];

function svMedian(values) {  // numpy's median: the mean of the two middle values for an even count
  const sorted = Float32Array.from(values).sort();
  const n = sorted.length, half = n >> 1;
  return n % 2 ? sorted[half] : SV_F((sorted[half - 1] + sorted[half]) / 2);
}

function svRoundHalfEven(x) {  // Python's round()
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

// preprocessing._luminance for an RGBA image: float32 luminance, transparency composited away.
function svLuminance(rgba, n) {
  const gray = new Float32Array(n);
  let opaque = 0;
  for (let i = 0, p = 0; i < n; i++, p += 4) {
    const r = SV_F(rgba[p] / 255), g = SV_F(rgba[p + 1] / 255), b = SV_F(rgba[p + 2] / 255);
    gray[i] = SV_F(SV_F(SV_F(r * SV_GRAY[0]) + SV_F(g * SV_GRAY[1])) + SV_F(b * SV_GRAY[2]));
    if (rgba[p + 3] > 127) opaque++;
  }
  if (opaque === n) {  // alpha 1 everywhere: alpha * gray + 0 * background = gray
    let exact = true;
    for (let i = 3; i < 4 * n; i += 4) if (rgba[i] !== 255) { exact = false; break; }
    if (exact) return gray;
  }
  let background = 1.0;
  if (opaque > 0 && opaque < n) {
    const inked = [];
    for (let i = 0; i < n; i++) if (rgba[4 * i + 3] > 127) inked.push(gray[i]);
    if (svMedian(inked) > 0.5) background = 0.0;
  }
  for (let i = 0; i < n; i++) {
    const a = SV_F(rgba[4 * i + 3] / 255);
    gray[i] = SV_F(SV_F(a * gray[i]) + SV_F(SV_F(1 - a) * background));
  }
  return gray;
}

function svBorderMedian(lum, h, w) {
  const ring = [];
  for (let x = 0; x < w; x++) ring.push(lum[x]);
  for (let x = 0; x < w; x++) ring.push(lum[(h - 1) * w + x]);
  for (let y = 1; y < h - 1; y++) ring.push(lum[y * w]);
  for (let y = 1; y < h - 1; y++) ring.push(lum[y * w + w - 1]);
  return svMedian(ring);
}

// preprocessing._only_thin_bands: no part of the mask survives an erosion by ~1/16 of the shorter side.
function svOnlyThinBands(mask, h, w) {
  const step = Math.max(1, Math.ceil(Math.max(h, w) / 64));
  const sh = Math.ceil(h / step), sw = Math.ceil(w / step);
  const radius = Math.max(1, svRoundHalfEven(Math.min(sh, sw) / 16));
  const small = new Uint8Array(sh * sw);
  for (let y = 0; y < sh; y++) for (let x = 0; x < sw; x++) small[y * sw + x] = mask[y * step * w + x * step];
  for (let y = radius; y < sh - radius; y++) {
    for (let x = radius; x < sw - radius; x++) {
      let all = true;
      for (let dy = -radius; dy <= radius && all; dy++) {
        for (let dx = -radius; dx <= radius; dx++) if (!small[(y + dy) * sw + x + dx]) { all = false; break; }
      }
      if (all) return false;
    }
  }
  return true;  // windows reaching outside the image are never all mask (outside counts as not the mask)
}

function svPaperLevel(lum, h, w) {
  const border = svBorderMedian(lum, h, w);
  const overall = svMedian(lum);
  if ((border < 0.5) === (overall < 0.5)) return border;
  const threshold = SV_F((border + overall) / 2.0);
  const mask = new Uint8Array(h * w);
  for (let i = 0; i < h * w; i++) mask[i] = border < threshold ? lum[i] < threshold : lum[i] >= threshold;
  return svOnlyThinBands(mask, h, w) ? overall : border;
}

function svPercentile(values, q) {  // numpy's default (linear) percentile, from the largest values only
  const n = values.length, index = (q / 100) * (n - 1), lower = Math.floor(index);
  const keep = n - lower;  // the order statistics from `lower` up
  const top = new Float32Array(keep).fill(-Infinity);
  for (let i = 0; i < n; i++) {  // keep the `keep` largest, ascending (keep is ~n/1000)
    const v = values[i];
    if (v <= top[0]) continue;
    let j = 0;
    while (j + 1 < keep && top[j + 1] < v) { top[j] = top[j + 1]; j++; }
    top[j] = v;
  }
  const a = top[0], b = keep > 1 ? top[1] : top[0], t = index - lower;
  return t >= 0.5 ? b - (b - a) * (1 - t) : a + (b - a) * t;
}

// Pillow's Image.resize of a float32 ("F") image: separable, horizontal pass then vertical, double sums.
function svCoefficients(inSize, outSize, support0, filter) {
  const scale = inSize / outSize, filterscale = Math.max(scale, 1.0), support = support0 * filterscale;
  const bounds = [], weights = [];
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale, ss = 1.0 / filterscale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    const k = new Float64Array(xmax);
    let ww = 0.0;
    for (let x = 0; x < xmax; x++) { k[x] = filter((x + xmin - center + 0.5) * ss); ww += k[x]; }
    if (ww !== 0.0) for (let x = 0; x < xmax; x++) k[x] /= ww;
    bounds.push(xmin); weights.push(k);
  }
  return {bounds, weights};
}

const SV_BOX = (x) => (x > -0.5 && x <= 0.5 ? 1.0 : 0.0);
const SV_BILINEAR = (x) => { x = Math.abs(x); return x < 1.0 ? 1.0 - x : 0.0; };

function svResize(square, side, size) {
  const box = side >= 2 * size;
  const c = svCoefficients(side, size, box ? 0.5 : 1.0, box ? SV_BOX : SV_BILINEAR);
  const rows = new Float32Array(side * size);
  for (let y = 0; y < side; y++) {
    for (let xx = 0; xx < size; xx++) {
      const k = c.weights[xx], base = y * side + c.bounds[xx];
      let ss = 0.0;
      for (let x = 0; x < k.length; x++) ss += square[base + x] * k[x];
      rows[y * size + xx] = ss;
    }
  }
  const out = new Float32Array(size * size);
  for (let yy = 0; yy < size; yy++) {
    const k = c.weights[yy], first = c.bounds[yy];
    for (let xx = 0; xx < size; xx++) {
      let ss = 0.0;
      for (let y = 0; y < k.length; y++) ss += rows[(first + y) * size + xx] * k[y];
      out[yy * size + xx] = ss;
    }
  }
  return out;
}

// preprocess(): an (h, w) RGBA image -> the (28, 28, 3) float32 model input, or null for "no shape".
function svPreprocess(rgba, w, h) {
  const n = w * h;
  if (Math.min(w, h) < 4) return null;  // config.MIN_IMAGE_SIDE
  let lum = svLuminance(rgba, n);
  let paper = svPaperLevel(lum, h, w);
  if (paper < 0.5) {
    for (let i = 0; i < n; i++) lum[i] = SV_F(1 - lum[i]);
    paper = 1.0 - paper;
  }
  const paper32 = SV_F(paper), ink = new Float32Array(n);
  let most = 0;
  for (let i = 0; i < n; i++) { const v = Math.max(SV_F(paper32 - lum[i]), 0); ink[i] = v; if (v > most) most = v; }
  let peak = n > 1000 ? svPercentile(ink, 99.9) : most;
  peak = Math.max(peak, most * 0.5);
  if (peak < SV_MIN_CONTRAST) return null;
  const peak32 = SV_F(peak);
  let top = h, bottom = -1, left = w, right = -1;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const v = Math.min(SV_F(ink[y * w + x] / peak32), 1);
      ink[y * w + x] = v;
      if (v > SV_INK_THRESHOLD) {
        if (y < top) top = y; if (y > bottom) bottom = y; if (x < left) left = x; if (x > right) right = x;
      }
    }
  }
  if (bottom < 0) return null;
  const dh = bottom + 1 - top, dw = right + 1 - left, extent = Math.max(dh, dw);
  if (extent < Math.max(2, SV_MIN_DRAWING_FRACTION * Math.max(h, w))) return null;
  const side = Math.ceil(extent / SV_CONTENT_FRACTION);
  const square = new Float32Array(side * side);
  const y0 = (side - dh) >> 1, x0 = (side - dw) >> 1;
  for (let y = 0; y < dh; y++) {
    square.set(ink.subarray((top + y) * w + left, (top + y) * w + left + dw), (y0 + y) * side + x0);
  }
  const small = side === SV_SIZE ? square : svResize(square, side, SV_SIZE);
  let high = 0;
  for (let i = 0; i < small.length; i++) { small[i] = Math.min(Math.max(small[i], 0), 1); high = Math.max(high, small[i]); }
  if (high <= 0) return null;
  const scale = SV_F(Math.min(high, 1.0)), x = new Float32Array(SV_SIZE * SV_SIZE * 3);
  for (let i = 0; i < small.length; i++) {
    const v = SV_F(1 - Math.min(Math.max(SV_F(small[i] / scale), 0), 1));
    x[3 * i] = v; x[3 * i + 1] = v; x[3 * i + 2] = v;
  }
  return x;
}

// --- the network -----------------------------------------------------------------------------------------

const SV_KINDS = new Set(["Conv2D", "MaxPooling2D", "Dropout", "Flatten", "Dense", "GlobalAveragePooling2D"]);
const SV_ACTIVATIONS = new Set(["relu", "softmax", "linear", "sigmoid", "tanh"]);

// The payload's layers with typed views of their weights; throws for anything this engine does not compute.
function svUnpack(payload, buffer) {
  if (payload.format !== 1 || payload.dtype !== "float32") throw new Error("unknown model format " + payload.format);
  const data = new Float32Array(buffer);
  if (data.length !== payload.params) throw new Error(`model data has ${data.length} values, expected ${payload.params}`);
  const layers = payload.layers.map((layer) => {
    if (!SV_KINDS.has(layer.kind)) throw new Error("layer kind " + layer.kind);
    if (!SV_ACTIVATIONS.has(layer.activation)) throw new Error("activation " + layer.activation);
    const weights = layer.weights.map((w) => data.subarray(w.offset, w.offset + w.size));
    return {...layer, weights};
  });
  return {digest: payload.digest, layers, names: layers.map((l) => l.name)};
}

function svSamePadding(size, kernel, stride) {  // TensorFlow's: extra padding after
  const out = Math.ceil(size / stride), total = Math.max((out - 1) * stride + kernel - size, 0);
  return Math.floor(total / 2);
}

function svActivate(z, activation) {
  if (activation === "relu") { for (let i = 0; i < z.length; i++) if (z[i] < 0) z[i] = 0; }
  else if (activation === "sigmoid") { for (let i = 0; i < z.length; i++) z[i] = 1 / (1 + Math.exp(-z[i])); }
  else if (activation === "tanh") { for (let i = 0; i < z.length; i++) z[i] = Math.tanh(z[i]); }
  else if (activation === "softmax") {  // over the last axis
    const c = z.length;  // vectors only (Dense); a map's softmax is refused by svForward
    let m = -Infinity, s = 0;
    for (let i = 0; i < c; i++) m = Math.max(m, z[i]);
    const e = new Float64Array(c);
    for (let i = 0; i < c; i++) { e[i] = Math.exp(z[i] - m); s += e[i]; }
    for (let i = 0; i < c; i++) z[i] = e[i] / s;
  }
  return z;
}

// Conv2D, HWC: per output position, kernel offset and input channel, one contiguous row of cout weights
// (Keras' (kh, kw, cin, cout) layout) added into the position's accumulators. Zero inputs (after ReLU, most)
// are skipped; "same" padding adds zeros, which are skipped too. `bg` marks the input positions that hold
// the layer's background vector (blank paper, as the layers before made it): an output whose window sees
// only those, away from the padding, is the background output, computed once (the same sum in the same order).
function svConvAt(layer, source, oy, ox, top, left, acc, scratch) {
  const [h, w, cin] = layer.input_shape, cout = layer.output_shape[2];
  const [kh, kw] = layer.window, [sh, sw] = layer.strides;
  const kernel = layer.weights[0], index = scratch.index, value = scratch.value;
  let m = 0;  // the window's non-zero inputs, in (ky, kx, ci) order, with their kernel rows
  for (let ky = 0; ky < kh; ky++) {
    const iy = oy * sh + ky - top;
    if (iy < 0 || iy >= h) continue;
    for (let kx = 0; kx < kw; kx++) {
      const ix = ox * sw + kx - left;
      if (ix < 0 || ix >= w) continue;
      const inBase = scratch.uniform ? 0 : (iy * w + ix) * cin, kBase = (ky * kw + kx) * cin;
      for (let ci = 0; ci < cin; ci++) {
        const v = source[inBase + ci];
        if (v !== 0) { value[m] = v; index[m] = (kBase + ci) * cout; m++; }
      }
    }
  }
  const bias = layer.use_bias ? layer.weights[1] : null;
  let co = 0;
  for (; co + 8 <= cout; co += 8) {  // eight accumulators in registers
    let a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
    if (bias) { a0 = bias[co]; a1 = bias[co + 1]; a2 = bias[co + 2]; a3 = bias[co + 3]; a4 = bias[co + 4]; a5 = bias[co + 5]; a6 = bias[co + 6]; a7 = bias[co + 7]; }
    for (let j = 0; j < m; j++) {
      const v = value[j], r = index[j] + co;
      a0 += v * kernel[r]; a1 += v * kernel[r + 1]; a2 += v * kernel[r + 2]; a3 += v * kernel[r + 3];
      a4 += v * kernel[r + 4]; a5 += v * kernel[r + 5]; a6 += v * kernel[r + 6]; a7 += v * kernel[r + 7];
    }
    acc[co] = a0; acc[co + 1] = a1; acc[co + 2] = a2; acc[co + 3] = a3;
    acc[co + 4] = a4; acc[co + 5] = a5; acc[co + 6] = a6; acc[co + 7] = a7;
  }
  for (; co < cout; co++) {
    let a = bias ? bias[co] : 0;
    for (let j = 0; j < m; j++) a += value[j] * kernel[index[j] + co];
    acc[co] = a;
  }
}

function svConv(layer, x, bg, bgVec) {
  const [h, w] = layer.input_shape, [oh, ow, cout] = layer.output_shape;
  const [kh, kw] = layer.window, [sh, sw] = layer.strides;
  const top = layer.padding === "same" ? svSamePadding(h, kh, sh) : 0;
  const left = layer.padding === "same" ? svSamePadding(w, kw, sw) : 0;
  const out = new Float32Array(oh * ow * cout), acc = new Float64Array(cout);
  const size = kh * kw * layer.input_shape[2];
  const scratch = {index: new Int32Array(size), value: new Float64Array(size), uniform: false};
  const outBg = new Uint8Array(oh * ow);
  let bgPre = null;
  for (let oy = 0; oy < oh; oy++) {
    for (let ox = 0; ox < ow; ox++) {
      const y0 = oy * sh - top, x0 = ox * sw - left;
      let background = bgVec !== null && y0 >= 0 && x0 >= 0 && y0 + kh <= h && x0 + kw <= w;
      for (let ky = 0; background && ky < kh; ky++) {
        for (let kx = 0; kx < kw; kx++) if (!bg[(y0 + ky) * w + x0 + kx]) { background = false; break; }
      }
      if (background) {
        if (bgPre === null) {
          scratch.uniform = true;
          svConvAt(layer, bgVec, 0, 0, 0, 0, acc, scratch);
          scratch.uniform = false;
          bgPre = Float32Array.from(acc);
        }
        out.set(bgPre, (oy * ow + ox) * cout);
        outBg[oy * ow + ox] = 1;
      } else {
        svConvAt(layer, x, oy, ox, top, left, acc, scratch);
        out.set(acc, (oy * ow + ox) * cout);
      }
    }
  }
  svActivate(out, layer.activation);
  return {values: out, bg: bgPre ? outBg : null, bgVec: bgPre ? svActivate(bgPre, layer.activation) : null};
}

function svPool(layer, x, bg, bgVec) {
  const [h, w, c] = layer.input_shape, [oh, ow] = layer.output_shape;
  const [kh, kw] = layer.window, [sh, sw] = layer.strides;
  const top = layer.padding === "same" ? svSamePadding(h, kh, sh) : 0;
  const left = layer.padding === "same" ? svSamePadding(w, kw, sw) : 0;
  const out = new Float32Array(oh * ow * c).fill(-Infinity), outBg = new Uint8Array(oh * ow);
  for (let oy = 0; oy < oh; oy++) for (let ox = 0; ox < ow; ox++) {
    const o = (oy * ow + ox) * c;
    let background = bgVec !== null;
    for (let ky = 0; ky < kh; ky++) {
      const iy = oy * sh + ky - top;
      if (iy < 0 || iy >= h) { background = false; continue; }
      for (let kx = 0; kx < kw; kx++) {
        const ix = ox * sw + kx - left;
        if (ix < 0 || ix >= w) { background = false; continue; }
        const i = (iy * w + ix) * c;
        if (background && !bg[iy * w + ix]) background = false;
        for (let ch = 0; ch < c; ch++) if (x[i + ch] > out[o + ch]) out[o + ch] = x[i + ch];
      }
    }
    outBg[o / c] = background ? 1 : 0;
  }
  return {values: out, bg: bgVec ? outBg : null, bgVec};
}

function svDense(layer, x) {
  const units = layer.size, n = x.length, kernel = layer.weights[0];
  const acc = new Float64Array(units);
  if (layer.use_bias) for (let j = 0; j < units; j++) acc[j] = layer.weights[1][j];
  for (let i = 0; i < n; i++) {
    const v = x[i];
    if (v === 0) continue;
    const row = i * units;
    for (let j = 0; j < units; j++) acc[j] += v * kernel[row + j];
  }
  if (layer.activation === "softmax") return svActivate(acc, "softmax");
  return svActivate(Float32Array.from(acc), layer.activation);
}

// Global average pooling: each channel's mean over the map (HWC in, one value per channel out).
function svGlobalAverage(layer, x) {
  const [h, w, c] = layer.input_shape, sums = new Float64Array(c);
  for (let i = 0; i < h * w; i++) {
    const row = i * c;
    for (let ch = 0; ch < c; ch++) sums[ch] += x[row + ch];
  }
  return Float32Array.from(sums, (v) => v / (h * w));
}

// Every layer's output for one input x (Float32Array, HWC). `off`: {layer name: [channels]} set to 0 after
// the layer (the server's knock-out). Returns {outputs, probabilities (Float64Array, the last output)}.
function svForward(net, x, off) {
  const outputs = [];
  // Blank paper: input pixels of value 1 in every channel (preprocess makes paper exactly 1.0).
  const [h, w, c0] = net.layers[0].input_shape;
  let bg = new Uint8Array(h * w), bgVec = new Float32Array(c0).fill(1);
  for (let i = 0; i < h * w; i++) {
    let paper = 1;
    for (let ch = 0; ch < c0; ch++) if (x[i * c0 + ch] !== 1) { paper = 0; break; }
    bg[i] = paper;
  }
  for (const layer of net.layers) {
    if (layer.activation === "softmax" && layer.kind !== "Dense") throw new Error("softmax on a map");
    let step;
    if (layer.kind === "Conv2D") step = svConv(layer, x, bg, bgVec);
    else if (layer.kind === "MaxPooling2D") step = svPool(layer, x, bg, bgVec);
    else if (layer.kind === "Dense") {
      if (layer.input_shape.length !== 1) throw new Error("Dense on a map");
      step = {values: svDense(layer, x), bg: null, bgVec: null};
    } else if (layer.kind === "Dropout") step = {values: x.slice(), bg, bgVec};
    else if (layer.kind === "Flatten") step = {values: x.slice(), bg: null, bgVec: null};
    else if (layer.kind === "GlobalAveragePooling2D") step = {values: svGlobalAverage(layer, x), bg: null, bgVec: null};
    else throw new Error("layer kind " + layer.kind);
    x = step.values; bg = step.bg; bgVec = step.bgVec;
    const channels = off && off[layer.name];
    if (channels && channels.length) {
      const c = layer.output_shape[layer.output_shape.length - 1];
      for (const ch of channels) {
        for (let i = ch; i < x.length; i += c) x[i] = 0;
        if (bgVec) { bgVec = bgVec.slice(); bgVec[ch] = 0; }
      }
    }
    outputs.push(x);
  }
  return {outputs, probabilities: Float64Array.from(x)};
}
