// The live drawing canvas (Streamlit components v2, no build step): black round strokes on white.
//
// While the pen is down the drawing is reported at most every `data.interval` ms (and once more,
// marked pen "up", when the stroke ends), so the server can predict during the stroke. A report is
// the ink's bounding region (plus a white margin) as a PNG, downscaled so that its longer side is at
// most `data.side` pixels: a few kB instead of the whole 280x280 canvas. The Python side decodes it
// with the project's one preprocessing function, like any uploaded PNG.
//
// State value "drawing": {seq, pen: "down" | "up", png: base64 PNG, strokes: number of strokes}.

export default function (component) {
  const { data, parentElement, setStateValue } = component;
  const canvas = parentElement.querySelector("canvas");
  if (!canvas) return undefined;
  const size = data.size;
  const lineWidth = data.stroke;
  const interval = data.interval;
  const side = data.side;
  const margin = Math.ceil(lineWidth / 2) + 3;

  // The drawing survives re-invocations of this function (the DOM node stays while mounted).
  const st = canvas.__shapesViz || (canvas.__shapesViz = {
    seq: 0, strokes: 0, drawing: false, last: null, box: null, lastSent: -1e9, timer: null,
  });
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

  function snapshot() {
    const [x0, y0, x1, y1] = st.box;
    const w = x1 - x0, h = y1 - y0;
    const scale = Math.min(1, side / Math.max(w, h));
    const out = st.out || (st.out = document.createElement("canvas"));
    out.width = Math.max(1, Math.round(w * scale));
    out.height = Math.max(1, Math.round(h * scale));
    const o = out.getContext("2d");
    o.imageSmoothingEnabled = true;
    o.imageSmoothingQuality = "high";
    o.drawImage(canvas, x0, y0, w, h, 0, 0, out.width, out.height);
    return out.toDataURL("image/png").slice("data:image/png;base64,".length);
  }

  function send(penDown) {
    if (st.timer !== null) { clearTimeout(st.timer); st.timer = null; }
    if (!st.box) return;
    st.seq += 1;
    st.lastSent = performance.now();
    setStateValue("drawing", { seq: st.seq, pen: penDown ? "down" : "up", png: snapshot(), strokes: st.strokes });
  }

  function schedule() {
    const wait = st.lastSent + interval - performance.now();
    if (wait <= 0) {
      send(true);
    } else if (st.timer === null) {
      st.timer = setTimeout(() => { st.timer = null; if (st.drawing) send(true); }, wait);
    }
  }

  function down(event) {
    if (event.button !== 0 || st.drawing) return;
    event.preventDefault();
    canvas.setPointerCapture(event.pointerId);
    st.drawing = true;
    st.strokes += 1;
    const p = position(event);
    segment(p, [p[0] + 0.01, p[1]]);  // a dot where the pen lands
    st.last = p;
    schedule();
  }

  function move(event) {
    if (!st.drawing) return;
    event.preventDefault();
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
    for (const e of events.length ? events : [event]) {
      const p = position(e);
      segment(st.last, p);
      st.last = p;
    }
    schedule();
  }

  function up(event) {
    if (!st.drawing) return;
    st.drawing = false;
    if (canvas.hasPointerCapture && canvas.hasPointerCapture(event.pointerId)) {
      canvas.releasePointerCapture(event.pointerId);
    }
    send(false);
  }

  canvas.addEventListener("pointerdown", down);
  canvas.addEventListener("pointermove", move);
  canvas.addEventListener("pointerup", up);
  canvas.addEventListener("pointercancel", up);
  return () => {
    canvas.removeEventListener("pointerdown", down);
    canvas.removeEventListener("pointermove", move);
    canvas.removeEventListener("pointerup", up);
    canvas.removeEventListener("pointercancel", up);
    if (st.timer !== null) { clearTimeout(st.timer); st.timer = null; }
  };
}
