// The live drawing canvas (Streamlit components v2, no build step): black round strokes on white, and the
// network run in the browser while the pen moves (svPreprocess, svForward: browser_engine.js, in front of this).
//
// State value "drawing": {seq, pen: "down" | "up", png: base64 PNG, strokes}: the ink's bounding region (plus
// a white margin) downscaled so that its longer side is at most `data.side` px; Python preprocesses it.
// - Browser path (the weights of data.engine.digest are here): while the pen is down, every animation frame
//   in which the pen moved, the same region's pixels go through svPreprocess and svForward, and the panel
//   beside the canvas shows the prediction and the page's layer and channel. Nothing is sent until the pen lifts.
// - Server path (weights not here yet, no IndexedDB, a model the browser cannot run, an error): the drawing is
//   reported at most every `data.interval` ms while the pen is down, and the server predicts. Reports also go
//   with the browser path when data.engine.report_live is set (the Why view's map follows the pen).
// The pen-up report is the same on both paths. Triggers: "need" (digest: send me its weights, once),
// "sync" (the page changed elsewhere since the last run, e.g. the layer: send fresh settings).

export default function (component) {
  const { data, parentElement, setStateValue, setTriggerValue } = component;
  const canvas = parentElement.querySelector("canvas.shapes-viz-canvas");
  const panel = parentElement.querySelector(".shapes-viz-live");
  if (!canvas) return undefined;
  const size = data.size;
  const lineWidth = data.stroke;
  const interval = data.interval;
  const side = data.side;
  const margin = Math.ceil(lineWidth / 2) + 3;

  // The drawing survives re-invocations of this function (the DOM node stays while mounted). `result`: the
  // browser's last computation (tests read it: input, probabilities, digest); `timings`: the benchmark's.
  const st = canvas.__shapesViz || (canvas.__shapesViz = {
    seq: 0, strokes: 0, drawing: false, last: null, box: null, lastSent: -1e9, timer: null,
    live: null, frame: null, pendingSince: null, updates: 0, result: null, timings: [],
  });
  st.engine = data.engine || null;
  SV_PAGE.stale = false;  // this run's settings are the page's
  svListen();
  try {
    svPrepare(st.engine, setTriggerValue);
  } catch (error) {
    svFail(error);
  }
  if (canvas.width !== size || canvas.height !== size || !st.painted) {
    canvas.width = size;
    canvas.height = size;
    const paper = canvas.getContext("2d");
    paper.fillStyle = "#ffffff";
    paper.fillRect(0, 0, size, size);
    st.painted = true;
  }
  const ctx = canvas.getContext("2d");

  function position(event) {
    const rect = canvas.getBoundingClientRect();
    return [(event.clientX - rect.left) * size / rect.width, (event.clientY - rect.top) * size / rect.height];
  }

  function grow(x, y) {
    const x0 = Math.max(0, Math.floor(x - margin)), y0 = Math.max(0, Math.floor(y - margin));
    const x1 = Math.min(size, Math.ceil(x + margin)), y1 = Math.min(size, Math.ceil(y + margin));
    st.box = st.box
      ? [Math.min(st.box[0], x0), Math.min(st.box[1], y0), Math.max(st.box[2], x1), Math.max(st.box[3], y1)]
      : [x0, y0, x1, y1];
  }

  function segment(from, to) {
    ctx.strokeStyle = "#000000";
    ctx.lineWidth = lineWidth;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.beginPath();
    ctx.moveTo(from[0], from[1]);
    ctx.lineTo(to[0], to[1]);
    ctx.stroke();
    grow(to[0], to[1]);
  }

  // The ink's region, downscaled, on a canvas of its own: what the server gets (as PNG) and the browser reads.
  function region() {
    const [x0, y0, x1, y1] = st.box;
    const w = x1 - x0, h = y1 - y0;
    const scale = Math.min(1, side / Math.max(w, h));
    if (!st.out) {
      st.out = document.createElement("canvas");
      st.outCtx = st.out.getContext("2d", {willReadFrequently: true});
    }
    st.out.width = Math.max(1, Math.round(w * scale));
    st.out.height = Math.max(1, Math.round(h * scale));
    const o = st.outCtx;
    o.imageSmoothingEnabled = true;
    o.imageSmoothingQuality = "high";
    o.drawImage(canvas, x0, y0, w, h, 0, 0, st.out.width, st.out.height);
    return st.out;
  }

  function send(penDown) {
    if (st.timer !== null) { clearTimeout(st.timer); st.timer = null; }
    if (!st.box) return;
    st.seq += 1;
    st.lastSent = performance.now();
    const png = region().toDataURL("image/png").slice("data:image/png;base64,".length);
    setStateValue("drawing", { seq: st.seq, pen: penDown ? "down" : "up", png, strokes: st.strokes });
  }

  function schedule() {
    const wait = st.lastSent + interval - performance.now();
    if (wait <= 0) {
      send(true);
    } else if (st.timer === null) {
      st.timer = setTimeout(() => { st.timer = null; if (st.drawing) send(true); }, wait);
    }
  }

  // The browser path: preprocess and run the network on the region, show the panel.
  function compute(net) {
    const started = performance.now();
    const out = region();
    const pixels = st.outCtx.getImageData(0, 0, out.width, out.height).data;
    const x = svPreprocess(pixels, out.width, out.height);
    if (x === null) return;  // a speck so far: nothing to predict, as the server would say
    const result = svForward(net, x, st.engine.off);
    svShow(panel, st.engine, net, result);
    const done = performance.now();
    st.updates += 1;
    st.result = {digest: net.digest, input: x, probabilities: result.probabilities, outputs: result.outputs,
                 layer: st.engine.layer, channel: st.engine.channel, seq: st.updates};
    if (st.pendingSince !== null) {  // the pen's oldest move not yet shown, to the end of the frame that shows it
      const since = st.pendingSince, timing = {compute: done - started, latency: null};
      st.timings.push(timing);
      if (st.timings.length > 1000) st.timings.shift();
      const channel = new MessageChannel();
      channel.port1.onmessage = () => { timing.latency = performance.now() - since; };
      channel.port2.postMessage(0);
    }
    st.pendingSince = null;
  }

  function fallBack(error) {
    svFail(error);
    st.live = null;
    if (panel) panel.hidden = true;
    if (st.drawing) schedule();
  }

  function frame() {
    st.frame = null;
    if (!st.live) return;
    try {
      compute(st.live);
    } catch (error) {
      fallBack(error);
    }
  }

  function moved(event) {
    if (st.live) {
      if (st.pendingSince === null) st.pendingSince = event.timeStamp;
      if (st.frame === null) st.frame = requestAnimationFrame(frame);
    }
    if (!st.live || (st.engine && st.engine.report_live)) schedule();  // the server path, or a view that wants it
  }

  function down(event) {
    if (event.button !== 0 || st.drawing) return;
    event.preventDefault();
    canvas.setPointerCapture(event.pointerId);
    st.drawing = true;
    st.strokes += 1;
    st.live = panel ? svNet(st.engine) : null;  // the path for this whole stroke
    const p = position(event);
    segment(p, [p[0] + 0.01, p[1]]);  // a dot where the pen lands
    st.last = p;
    moved(event);
  }

  function move(event) {
    if (!st.drawing) { enter(); return; }
    event.preventDefault();
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
    for (const e of events.length ? events : [event]) {
      const p = position(e);
      segment(st.last, p);
      st.last = p;
    }
    moved(events.length ? events[0] : event);
  }

  function up(event) {
    if (!st.drawing) return;
    st.drawing = false;
    if (canvas.hasPointerCapture && canvas.hasPointerCapture(event.pointerId)) {
      canvas.releasePointerCapture(event.pointerId);
    }
    if (st.live) {  // the whole stroke, at once (the server's prediction of the same pixels follows)
      if (st.frame !== null) { cancelAnimationFrame(st.frame); st.frame = null; }
      frame();
    }
    send(false);
  }

  function enter() {  // the pen arrives (or hovers) after a change elsewhere on the page: fresh settings before it draws
    if (SV_PAGE.stale && svNet(st.engine)) {
      SV_PAGE.stale = false;
      setTriggerValue("sync", Date.now());
    }
  }

  // Fresh settings or weights for a drawing already made: show what the browser makes of it now.
  const net = svNet(st.engine);
  if (panel) {
    panel.hidden = !svPossible(st.engine);
    if (!net || !st.result || st.result.digest !== net.digest) panel.classList.add("sv-waiting");
  }
  if (net && st.box && !st.drawing) {
    try { compute(net); } catch (error) { fallBack(error); }
  }

  canvas.addEventListener("pointerdown", down);
  canvas.addEventListener("pointermove", move);
  canvas.addEventListener("pointerup", up);
  canvas.addEventListener("pointercancel", up);
  canvas.addEventListener("pointerenter", enter);
  return () => {
    canvas.removeEventListener("pointerdown", down);
    canvas.removeEventListener("pointermove", move);
    canvas.removeEventListener("pointerup", up);
    canvas.removeEventListener("pointercancel", up);
    canvas.removeEventListener("pointerenter", enter);
    if (st.timer !== null) { clearTimeout(st.timer); st.timer = null; }
    if (st.frame !== null) { cancelAnimationFrame(st.frame); st.frame = null; }
  };
}
