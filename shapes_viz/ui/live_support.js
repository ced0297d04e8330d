// What the live canvas (live_canvas.js) needs besides drawing: the model's weights in memory and IndexedDB,
// asked from the server once per model version; the console line of a fallback; the panel beside the canvas.
// No exports: live_canvas.py joins browser_engine.js, this file and live_canvas.js into one ES module.

const SV_PAGE = {nets: new Map(), asked: new Map(), loading: new Set(), logged: new Set(), broken: null,
                 stale: false, listening: false, db: null};
const SV_DB = "shapes_viz", SV_STORE = "models";
const SV_VIRIDIS = ["#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58",
                    "#b5de2b", "#fde725"].map((c) => [1, 3, 5].map((i) => parseInt(c.slice(i, i + 2), 16)));

function svLog(key, text) {  // one console line per reason and page
  if (SV_PAGE.logged.has(key)) return;
  SV_PAGE.logged.add(key);
  console.info("shapes_viz: " + text);
}

function svFail(error) {
  SV_PAGE.broken = String(error && error.message ? error.message : error);
  svLog("broken", `the in-browser network failed (${SV_PAGE.broken}); predictions during a stroke come from the server.`);
}

function svMissing() {
  try {
    if (!window.indexedDB) return "no IndexedDB";
  } catch (error) {
    return "no IndexedDB";
  }
  if (typeof Float32Array !== "function" || typeof Math.fround !== "function") return "no typed arrays";
  if (typeof requestAnimationFrame !== "function") return "no requestAnimationFrame";
  return null;
}

function svDb() {
  if (!SV_PAGE.db) {
    SV_PAGE.db = new Promise((resolve, reject) => {
      const request = indexedDB.open(SV_DB, 1);
      request.onupgradeneeded = () => request.result.createObjectStore(SV_STORE);
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error || new Error("IndexedDB failed"));
      request.onblocked = () => reject(new Error("IndexedDB blocked"));
    });
  }
  return SV_PAGE.db;
}

function svDbDo(mode, work) {
  return svDb().then((db) => new Promise((resolve, reject) => {
    const tx = db.transaction(SV_STORE, mode), store = tx.objectStore(SV_STORE);
    let result;
    work(store, (value) => { result = value; });
    tx.oncomplete = () => resolve(result);
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error || new Error("IndexedDB aborted"));
  }));
}

const svDbGet = (digest) => svDbDo("readonly", (store, done) => {
  const request = store.get(digest);
  request.onsuccess = () => done(request.result);
});
// One model version is kept: the page only ever runs the published one.
const svDbPut = (digest, record) => svDbDo("readwrite", (store) => {
  store.clear();
  store.put(record, digest);
});

function svDecode(base64) {
  const text = atob(base64), bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes.buffer;
}

function svInstall(payload, buffer) {
  const net = svUnpack(payload, buffer);
  SV_PAGE.nets.set(payload.digest, net);
  return net;
}

// Make the weights of engine.digest available: memory, IndexedDB, or (once) the server. Never blocks.
function svPrepare(engine, setTriggerValue) {
  if (!engine || !engine.digest) return;
  const missing = svMissing();
  if (missing) {
    svLog("missing", `predictions during a stroke come from the server (this browser has ${missing}).`);
    return;
  }
  if (engine.unsupported) {
    svLog("unsupported:" + engine.digest,
          `the browser cannot run this model (${engine.unsupported}); predictions during a stroke come from the server.`);
    return;
  }
  const digest = engine.digest;
  if (SV_PAGE.broken || SV_PAGE.nets.has(digest)) return;
  if (engine.weights && engine.weights.digest === digest) {
    const {data, ...payload} = engine.weights;
    const buffer = svDecode(data);
    svInstall(payload, buffer);
    svDbPut(digest, {payload, buffer}).catch((error) => svLog("store", `could not keep the model (${error}).`));
    return;
  }
  const asked = SV_PAGE.asked.get(digest);
  if (SV_PAGE.loading.has(digest) || (asked && performance.now() - asked < 10000)) return;
  SV_PAGE.loading.add(digest);
  svDbGet(digest).then((record) => {
    if (record) {
      svInstall(record.payload, record.buffer);
    } else {
      SV_PAGE.asked.set(digest, performance.now());
      setTriggerValue("need", digest);
    }
  }).catch(svFail).finally(() => SV_PAGE.loading.delete(digest));
}

function svPossible(engine) {  // whether this page may run the network itself (now or once the weights are here)
  return !!(engine && engine.digest && !engine.unsupported && !SV_PAGE.broken && !svMissing());
}

function svNet(engine) {
  return svPossible(engine) ? SV_PAGE.nets.get(engine.digest) || null : null;
}

function svListen() {  // once per page: an interaction elsewhere may change the settings the canvas has
  if (SV_PAGE.listening) return;
  SV_PAGE.listening = true;
  const mark = (event) => {
    const path = event.composedPath ? event.composedPath() : [];
    if (!path.some((node) => node && node.classList && node.classList.contains("shapes-viz-canvas"))) SV_PAGE.stale = true;
  };
  for (const type of ["pointerdown", "keydown", "change"]) window.addEventListener(type, mark, true);
}

function svColour(t) {
  const x = Math.min(Math.max(t, 0), 1) * (SV_VIRIDIS.length - 1), i = Math.min(Math.floor(x), SV_VIRIDIS.length - 2);
  const f = x - i, a = SV_VIRIDIS[i], b = SV_VIRIDIS[i + 1];
  return [0, 1, 2].map((k) => Math.round(a[k] + (b[k] - a[k]) * f));
}

function svRange(values, from, to, step) {
  let low = Infinity, high = -Infinity;
  for (let i = from; i < to; i += step) { const v = values[i]; if (v < low) low = v; if (v > high) high = v; }
  return [low, high];
}

// The panel: predicted class, every probability as a bar, the selected channel as a viridis heatmap (the
// explorer's colour range) or, for a vector layer, its units as bars with the selected one in orange.
function svShow(panel, engine, net, result) {
  const probabilities = result.probabilities, classes = engine.classes || [];
  if (engine.head) panel.querySelector(".sv-head").textContent = engine.head;
  let winner = 0;
  for (let i = 1; i < probabilities.length; i++) if (probabilities[i] > probabilities[winner]) winner = i;
  panel.querySelector(".sv-class").textContent =
    `${classes[winner] || "class " + winner} ${(100 * probabilities[winner]).toFixed(1)}%`;
  const bars = panel.querySelector(".sv-bars");
  if (bars.childElementCount !== probabilities.length) {
    bars.replaceChildren(...Array.from(probabilities, (_, i) => {
      const row = document.createElement("div");
      row.className = "sv-bar";
      row.innerHTML = "<span></span><i></i><span></span>";
      row.firstChild.textContent = classes[i] || String(i);
      return row;
    }));
  }
  Array.from(bars.children).forEach((row, i) => {
    row.children[1].style.width = `${Math.round(60 * probabilities[i])}px`;
    row.children[2].textContent = `${(100 * probabilities[i]).toFixed(1)}%`;
  });
  let index = net.names.indexOf(engine.layer);
  if (index < 0) index = 0;
  const layer = net.layers[index], values = result.outputs[index], shape = layer.output_shape;
  const channels = shape[shape.length - 1], channel = Math.min(Math.max(engine.channel | 0, 0), channels - 1);
  const map = panel.querySelector(".sv-map"), ctx = map.getContext("2d"), mode = engine.range || "this channel";
  let low, high;
  if (mode.startsWith("whole network")) {
    high = 1e-6;
    for (const output of result.outputs) high = Math.max(high, svRange(output, 0, output.length, 1)[1]);
    low = 0;
  } else if (mode.startsWith("whole layer")) {
    [low, high] = svRange(values, 0, values.length, 1);
  } else {
    [low, high] = shape.length === 3 ? svRange(values, channel, values.length, channels) : [null, null];
  }
  if (shape.length === 3) {
    const [h, w] = shape;
    if (low === high) { low -= 0.5; high += 0.5; }  // as Plotly colours a flat channel
    if (map.width !== w || map.height !== h) { map.width = w; map.height = h; }
    const image = ctx.createImageData(w, h);
    for (let p = 0; p < h * w; p++) {
      const [r, g, b] = svColour((values[p * channels + channel] - low) / (high - low));
      image.data.set([r, g, b, 255], 4 * p);
    }
    ctx.putImageData(image, 0, 0);
    panel.querySelector(".sv-caption").textContent = `${layer.name} · channel ${channel}`;
  } else {
    if (map.width !== 112 || map.height !== 112) { map.width = 112; map.height = 112; }  // 112 px drawn in 84
    if (low === null) { [low, high] = svRange(values, 0, values.length, 1); }
    low = Math.min(low, 0); high = Math.max(high, low + 1e-6);
    ctx.fillStyle = "#ffffff";
    ctx.fillRect(0, 0, 112, 112);
    const width = 112 / values.length, zero = 112 * high / (high - low);
    for (let i = 0; i < values.length; i++) {
      const top = 112 * (high - Math.max(values[i], 0)) / (high - low);
      const bottom = 112 * (high - Math.min(values[i], 0)) / (high - low);
      ctx.fillStyle = i === channel ? "#ff7f0e" : "#1f77b4";
      ctx.fillRect(i * width, top, Math.max(width, i === channel ? 2 : 0.5), Math.max(bottom - top, 0.5));
    }
    ctx.fillStyle = "#888888";
    ctx.fillRect(0, zero, 112, 0.5);
    panel.querySelector(".sv-caption").textContent = `${layer.name} · unit ${channel} = ${values[channel].toFixed(4)}`;
  }
  panel.hidden = false;
  panel.classList.remove("sv-waiting");
}

// For the browser tests and the benchmark: the engine's functions and this page's state (weights by digest).
window.shapesViz = {preprocess: svPreprocess, forward: svForward, unpack: svUnpack, decode: svDecode, page: SV_PAGE};
