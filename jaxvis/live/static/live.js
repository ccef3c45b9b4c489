// jaxvis live: the page. It sends images and selections over one WebSocket
// (protocol: jaxvis/live/session.py) and draws what comes back. One frame is
// in flight at a time: the next webcam or video frame is sent when the reply
// to the last one has arrived.
"use strict";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const state = {
  info: null, sel: null, source: null, index: 0, frozen: false, inFlight: false, sentAt: 0,
  frame: null, grid: null, optimizing: null, hover: null, received: [], stream: null, lastError: 0,
};
const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws");
ws.binaryType = "arraybuffer";

function send(message) { if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message)); }
function select(fields) { send(Object.assign({type: "select"}, fields)); }

function showMessage(text) {
  $("message").textContent = text;
  const at = state.lastError = Date.now();
  setTimeout(() => { if (state.lastError === at) $("message").textContent = ""; }, 8000);
}

function unpack(packed) {
  const bytes = atob(packed.data);
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = bytes.charCodeAt(i);
  return {shape: packed.shape, data: out};
}

// An [H, W, 3] or [H, W] uint8 array into a canvas of its own size.
function drawImage(canvas, array) {
  const [h, w] = array.shape;
  const rgb = array.shape.length === 3;
  canvas.width = w; canvas.height = h;
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(w, h);
  for (let i = 0; i < h * w; i++) {
    img.data[4 * i] = array.data[rgb ? 3 * i : i];
    img.data[4 * i + 1] = array.data[rgb ? 3 * i + 1 : i];
    img.data[4 * i + 2] = array.data[rgb ? 3 * i + 2 : i];
    img.data[4 * i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

function layerInfo(name) { return state.info.layers.find((l) => l.name === name); }

// A token blob's prefix tokens (class token, registers): p cells under each channel's patch map, in rows of
// the grid's width w, after a 1 px gap. They have a scale of their own (the server's prefix_strip), so they
// are drawn in blue, the patch map in grey.
function stripRows(frame, w) { return frame.prefix ? Math.ceil(frame.prefix.shape[1] / w) : 0; }
function stripColor(v) { return [Math.round(0.55 * v), Math.round(0.75 * v), v]; }

// The layer's channels [C, h, w] tiled row-major with a 1 px gap; the selected one outlined. A token blob's
// tile is its patch map with its prefix strip below.
function drawTiles() {
  const tiles = state.frame && state.frame.tiles;
  if (!tiles || state.frame.layer !== state.sel.layer) return;
  const [c, h, w] = tiles.shape;
  const prefix = state.frame.prefix, p = prefix ? prefix.shape[1] : 0;
  const cols = Math.ceil(Math.sqrt(c)), rows = Math.ceil(c / cols);
  const tokens = !!layerInfo(state.sel.layer).tokens;
  const cell = Math.max(tokens ? w : h, 3);  // fc units (1x1) drawn as 3x3 cells; conv maps as squares
  const mapH = tokens ? Math.max(h, 3) : cell, unitH = Math.max(1, Math.floor(mapH / h));
  const stripH = stripRows(state.frame, w) * unitH, height = mapH + (p ? 1 + stripH : 0);
  const W = cols * (cell + 1) + 1, H = rows * (height + 1) + 1;
  const canvas = $("tiles");
  canvas.width = W; canvas.height = H;
  const scale = Math.max(1, Math.floor(Math.min(560 / W, 560 / H)));
  // Only the width: the height follows the aspect ratio, also where the style's max-width narrows it.
  canvas.style.width = W * scale + "px";
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(W, H);
  img.data.fill(40);
  for (let k = 0; k < c; k++) {
    const r0 = 1 + Math.floor(k / cols) * (height + 1), c0 = 1 + (k % cols) * (cell + 1);
    for (let y = 0; y < mapH; y++) for (let x = 0; x < cell; x++) {
      const v = tiles.data[k * h * w + Math.floor(y * h / mapH) * w + Math.floor(x * w / cell)];
      const i = 4 * ((r0 + y) * W + c0 + x);
      img.data[i] = img.data[i + 1] = img.data[i + 2] = v;
    }
    for (let y = 0; y < stripH; y++) for (let x = 0; x < cell; x++) {
      const t = Math.floor(y / unitH) * w + Math.floor(x * w / cell);
      if (t >= p) continue;
      const i = 4 * ((r0 + mapH + 1 + y) * W + c0 + x);
      [img.data[i], img.data[i + 1], img.data[i + 2]] = stripColor(prefix.data[k * p + t]);
    }
  }
  for (let i = 3; i < img.data.length; i += 4) img.data[i] = 255;
  ctx.putImageData(img, 0, 0);
  const u = state.sel.unit;
  ctx.strokeStyle = "#ff3"; ctx.lineWidth = 1;
  ctx.strokeRect((u % cols) * (cell + 1) + 0.5, Math.floor(u / cols) * (height + 1) + 0.5, cell + 1, height + 1);
  state.grid = {cols, rows, cell, height, scale, count: c};
}

// The channel under the mouse, its maximum in the current frame and, in a token blob, its prefix tokens.
function drawHover() {
  const k = state.hover, f = state.frame;
  const shown = k !== null && f && f.layer === state.sel.layer && k < f.maxima.length;
  const prefix = shown && f.prefix_values ? `, prefix ${f.prefix_values[k].map((v) => v.toPrecision(3)).join(" ")}` : "";
  $("hover").textContent = shown ? `channel ${k}, max ${f.maxima[k].toPrecision(4)}` + prefix : "";
}

// The selected channel [h, w] as an RGB image: grey, and for a token blob its prefix strip below (blue).
function selectedImage(f, u) {
  const [, h, w] = f.tiles.shape;
  const p = f.prefix ? f.prefix.shape[1] : 0, H = h + (p ? 1 + stripRows(f, w) : 0);
  const data = new Uint8Array(H * w * 3).fill(40);
  for (let i = 0; i < h * w; i++) data[3 * i] = data[3 * i + 1] = data[3 * i + 2] = f.tiles.data[u * h * w + i];
  for (let t = 0; t < p; t++) data.set(stripColor(f.prefix.data[u * p + t]), 3 * ((h + 1) * w + t));
  return {shape: [H, w, 3], data};
}

// Where the enlarged map shows a token blob's prefix token t: (y, x) in its canvas.
function stripPlace(h, w, t) { return [h + 1 + Math.floor(t / w), t % w]; }

function drawSelected() {
  const tiles = state.frame && state.frame.tiles;
  if (!tiles || state.frame.layer !== state.sel.layer) {  // until the new layer's first frame (it may compile)
    $("unit-name").textContent = `${state.sel.layer} #${state.sel.unit}`;
    return;
  }
  const [, h, w] = tiles.shape;
  const u = state.sel.unit, f = state.frame;
  const canvas = $("selected");
  drawImage(canvas, selectedImage(f, u));
  canvas.style.height = f.prefix ? "auto" : "";  // the strip makes it taller than wide: keep the aspect ratio
  const at = state.sel.at, token = state.sel.token;
  const mark = at || (token !== null && token !== undefined && f.prefix ? stripPlace(h, w, token) : null);
  if (mark) {
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = "rgba(255, 60, 60, 0.8)";
    ctx.fillRect(mark[1], mark[0], 1, 1);
  }
  const tokenText = token !== null && token !== undefined
    ? ` prefix token ${token}` + (f.prefix_values ? ` = ${f.prefix_values[u][token].toPrecision(4)}` : "") : "";
  $("unit-name").textContent = `${state.sel.layer} #${u}` + (at ? ` at (${at[0]}, ${at[1]})` : "") + tokenText +
    (f.maxima ? `  max ${f.maxima[u].toPrecision(4)}` : "");
}

function drawPredictions(predictions) {
  const list = $("predictions");
  list.replaceChildren(...predictions.map((p) => {
    const li = document.createElement("li");
    li.textContent = `${p.name} ${p.p.toFixed(3)}`;
    const bar = document.createElement("span");
    bar.className = "bar"; bar.style.width = Math.round(80 * p.p) + "px";
    li.appendChild(bar);
    return li;
  }));
}

function drawStatus() {
  const now = performance.now();
  state.received = state.received.filter((t) => now - t < 2000);
  const fps = state.received.length > 1
    ? (state.received.length - 1) * 1000 / (state.received[state.received.length - 1] - state.received[0]) : 0;
  const f = state.frame, t = f ? f.timing : null;
  $("status").textContent = (state.received.length > 1 ? `fps ${fps.toFixed(1)}` : "fps -") +
    (t ? ` | forward ${t.forward_ms.toFixed(1)} ms | backward ${t.backward_ms.toFixed(1)} ms` +
         (t.compiled ? " (compiling this layer and mode)" : "") + ` | frame ${f.seq}` : "") +
    ` | ${state.source}${state.frozen ? " (frozen)" : ""} | ${state.sel.layer} #${state.sel.unit} | ` +
    `${state.sel.mode} ${state.sel.rendering}`;
}

function onFrame(f) {
  state.inFlight = false;
  state.received.push(performance.now());
  f.tiles = unpack(f.tiles);
  if (f.prefix) f.prefix = unpack(f.prefix);
  state.frame = f;
  drawImage($("input"), unpack(f.input));
  $("input-name").textContent = f.index === null && state.sentName ? state.sentName : f.name;
  $("label").textContent = f.label ? `ground truth: ${f.label}` : "";
  drawPredictions(f.predictions);
  drawTiles(); drawSelected(); drawHover();
  if (f.backward) drawImage($("backward"), unpack(f.backward));
  $("backward-error").textContent = f.backward_error || "";
  $("backward-name").textContent = `${f.mode} ${f.rendering}`;
  drawStatus();
  pump();
}

function onSelection(s) {
  state.sel = {layer: s.layer, unit: s.unit, at: s.at, token: s.token, mode: s.mode, rendering: s.rendering};
  if (state.optimizing && (state.optimizing.layer !== s.layer || state.optimizing.unit !== s.unit)) {
    state.optimizing = null;  // another unit's image: the server stopped that run
    $("optimizing-image").style.display = "none";
    $("optimizing-status").textContent = "";
  }
  $("layer").value = s.layer; $("mode").value = s.mode; $("rendering").value = s.rendering;
  $("layer-name").textContent = s.layer;
  const views = [];
  if (s.views.topk) for (const [what, url] of Object.entries(s.views.topk)) views.push(picture(url, `top-9 ${what} of ${s.views.layer} #${s.unit}`));
  $("topk").replaceChildren(...views);
  $("optimized").replaceChildren(...s.views.optimized.map((v) => picture(v.url, `optimized ${s.views.layer} #${s.unit} (${v.preset})`)));
  const url = new URL(location.href);
  for (const key of ["layer", "unit", "mode", "rendering"]) url.searchParams.set(key, s[key]);
  if (state.source) url.searchParams.set("source", state.source);
  history.replaceState(null, "", url);
  drawTiles(); drawSelected(); drawStatus();
}

function picture(url, caption) {
  const figure = document.createElement("figure");
  const img = document.createElement("img");
  img.src = url; img.alt = caption;
  const text = document.createElement("figcaption");
  text.textContent = caption;
  figure.append(text, img);
  return figure;
}

function onOptimized(m) {
  if (m.layer !== state.sel.layer || m.unit !== state.sel.unit) return;
  state.optimizing = {layer: m.layer, unit: m.unit};
  const canvas = $("optimizing-image");
  canvas.style.display = "block";
  drawImage(canvas, unpack(m.image));
  $("optimizing-status").textContent = m.done ? `optimized ${m.blob} #${m.unit} (${m.steps} steps)`
    : `optimizing ${m.blob} #${m.unit}: step ${m.step} of ${m.steps}`;
}

ws.onmessage = (event) => {
  const m = JSON.parse(event.data);
  if (m.type === "info") onInfo(m);
  else if (m.type === "selection") onSelection(m);
  else if (m.type === "frame") onFrame(m);
  else if (m.type === "optimized") onOptimized(m);
  else if (m.type === "error") { state.inFlight = false; showMessage(m.message); pump(); }
};
ws.onclose = () => { $("status").textContent = "disconnected: restart `jaxvis live` and reload"; };

function fillSelect(select, values) {
  select.replaceChildren(...values.map((v) => { const o = document.createElement("option"); o.value = o.textContent = v; return o; }));
}

function onInfo(info) {
  state.info = info;
  $("model").textContent = `${info.model} (input ${info.input_size[0]}x${info.input_size[1]})`;
  fillSelect($("layer"), info.layers.map((l) => l.name));
  fillSelect($("mode"), info.modes);
  fillSelect($("rendering"), info.renderings);
  state.sel = {layer: info.default_layer, unit: 0, at: null, token: null, mode: info.modes[0],
               rendering: info.renderings[0]};
  const wanted = {};
  for (const key of ["layer", "mode", "rendering"]) if (params.has(key)) wanted[key] = params.get(key);
  if (params.has("unit")) wanted.unit = parseInt(params.get("unit"), 10);
  if (Object.keys(wanted).length) select(wanted);
  const demo = info.class_names.length && info.model.startsWith("demo");
  const source = params.get("source") || (demo ? "generated" : "webcam");
  state.index = parseInt(params.get("index") || "0", 10) || 0;
  $("optimize").disabled = false;
  setSource(source);
}

function stopStream() {
  if (state.stream) { state.stream.getTracks().forEach((t) => t.stop()); state.stream = null; }
  const video = $("video");
  video.pause(); video.removeAttribute("src"); video.srcObject = null;
}

async function setSource(source) {
  stopStream();
  state.source = source;
  $("source").value = source;
  if (source === "generated" || source === "files") step(0);
  else if (source === "webcam") {
    try {
      state.stream = await navigator.mediaDevices.getUserMedia({video: true, audio: false});
      state.sentName = "webcam";
      const video = $("video");
      video.srcObject = state.stream;
      await video.play();
      pump();
    } catch (e) { showMessage(`no webcam: ${e.message}`); }
  } else $("file").click();
}

function step(delta) {
  if (state.source !== "generated" && state.source !== "files") {
    showMessage("e / w step through the generated world or the server folder; choose one as the input");
    return;
  }
  if (state.source === "files" && !state.info.files) { showMessage("the server has no image folder (--images)"); return; }
  state.index = Math.max(0, state.index + delta);
  send({type: state.source === "files" ? "file" : "generated", index: state.index});
}

// Sends the video's current frame (centre square, at the network's input size) when none is in flight.
function pump() {
  const video = $("video");
  const live = (state.source === "webcam" || state.source === "video") && !state.frozen;
  if (!live || video.readyState < 2 || video.paused || video.ended) return;
  if (state.inFlight && performance.now() - state.sentAt < 5000) return;
  const side = Math.min(video.videoWidth, video.videoHeight);
  if (!side) { requestAnimationFrame(pump); return; }
  const size = Math.max(...state.info.input_size);
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = size;
  canvas.getContext("2d").drawImage(video, (video.videoWidth - side) / 2, (video.videoHeight - side) / 2, side, side,
                                    0, 0, size, size);
  state.inFlight = true; state.sentAt = performance.now();
  canvas.toBlob((blob) => blob.arrayBuffer().then((b) => ws.send(b)), size <= 128 ? "image/png" : "image/jpeg", 0.92);
}

function openFile(file) {
  if (!file) return;
  if (file.type.startsWith("video/")) {
    stopStream();
    state.source = "video"; $("source").value = "video";
    const video = $("video");
    video.src = URL.createObjectURL(file); video.loop = true;
    state.sentName = file.name;
    video.play().then(pump, (e) => showMessage(`cannot play ${file.name}: ${e.message}`));
    return;
  }
  stopStream();
  state.source = "image"; $("source").value = "image";
  if (file.size > state.info.max_upload_bytes) {
    showMessage(`${file.name} is ${(file.size / 1e6).toFixed(1)} MB; the server takes at most ` +
                `${(state.info.max_upload_bytes / 1e6).toFixed(1)} MB`);
    return;
  }
  state.sentName = file.name;
  file.arrayBuffer().then((b) => ws.send(b));
}

$("video").addEventListener("playing", pump);
$("file").addEventListener("change", (e) => openFile(e.target.files[0]));
document.addEventListener("dragover", (e) => e.preventDefault());
document.addEventListener("drop", (e) => { e.preventDefault(); openFile(e.dataTransfer.files[0]); });
$("source").addEventListener("change", (e) => { e.target.blur(); setSource(e.target.value); });
$("layer").addEventListener("change", (e) => { e.target.blur(); select({layer: e.target.value}); });
$("mode").addEventListener("change", (e) => { e.target.blur(); select({mode: e.target.value}); });
$("rendering").addEventListener("change", (e) => { e.target.blur(); select({rendering: e.target.value}); });
$("next").addEventListener("click", () => step(1));
$("freeze").addEventListener("click", toggleFreeze);
$("whole").addEventListener("click", () => select({at: null, token: null}));
$("optimize").addEventListener("click", () => send({type: "optimize"}));
$("help-button").addEventListener("click", () => { $("help").hidden = !$("help").hidden; });

function toggleFreeze() {
  state.frozen = !state.frozen;
  $("freeze").classList.toggle("on", state.frozen);
  drawStatus();
  pump();
}

// The tile under the mouse, in the canvas's own pixels (its shown size may be narrower than W * scale).
function tileAt(event) {
  const g = state.grid, canvas = event.currentTarget;
  if (!g || !canvas.clientWidth || !canvas.clientHeight) return null;
  const x = Math.floor(event.offsetX * canvas.width / canvas.clientWidth);
  const y = Math.floor(event.offsetY * canvas.height / canvas.clientHeight);
  const col = Math.floor((x - 1) / (g.cell + 1)), row = Math.floor((y - 1) / (g.height + 1));
  const k = row * g.cols + col;
  return col >= 0 && col < g.cols && row >= 0 && k < g.count ? k : null;
}

$("tiles").addEventListener("click", (e) => { const k = tileAt(e); if (k !== null) select({unit: k}); });
$("tiles").addEventListener("mousemove", (e) => { state.hover = tileAt(e); drawHover(); });
$("tiles").addEventListener("mouseleave", () => { state.hover = null; drawHover(); });
$("selected").addEventListener("click", (e) => {
  const layer = layerInfo(state.sel.layer);
  const canvas = e.currentTarget;
  if (layer.tokens) {  // a patch (y, x) of the grid, or a prefix token of the strip below it
    if (!state.frame || state.frame.layer !== state.sel.layer) return;  // the canvas still shows another layer
    const [h, w] = layer.tokens.grid;
    const y = Math.floor(e.offsetY * canvas.height / canvas.clientHeight);
    const x = Math.min(Math.floor(e.offsetX * canvas.width / canvas.clientWidth), w - 1);
    const t = (y - h - 1) * w + x;
    if (y < h) select({at: [y, x]});
    else if (y > h && t < layer.tokens.prefix) select({token: t});
    return;
  }
  if (!layer.spatial) return;
  const y = Math.floor(e.offsetY * layer.shape[0] / canvas.clientHeight);
  const x = Math.floor(e.offsetX * layer.shape[1] / canvas.clientWidth);
  select({at: [Math.min(y, layer.shape[0] - 1), Math.min(x, layer.shape[1] - 1)]});
});

function cycle(values, current, delta) { return values[(values.indexOf(current) + delta + values.length) % values.length]; }

function moveUnit(delta) {
  const g = state.grid, count = layerInfo(state.sel.layer).channels;
  const unit = state.sel.unit + delta;
  if (unit >= 0 && unit < count) select({unit});
  else if (g && Math.abs(delta) === 1) select({unit: (unit + count) % count});
}

document.addEventListener("keydown", (e) => {
  if (!state.info || e.ctrlKey || e.metaKey || e.altKey) return;
  if (["INPUT", "SELECT", "TEXTAREA"].includes(e.target.tagName)) return;
  const cols = state.grid ? state.grid.cols : 1;
  const names = state.info.layers.map((l) => l.name);
  const actions = {
    ArrowLeft: () => moveUnit(-1), j: () => moveUnit(-1),
    ArrowRight: () => moveUnit(1), l: () => moveUnit(1),
    ArrowUp: () => moveUnit(-cols), i: () => moveUnit(-cols),
    ArrowDown: () => moveUnit(cols), k: () => moveUnit(cols),
    u: () => select({layer: cycle(names, state.sel.layer, -1)}),
    o: () => select({layer: cycle(names, state.sel.layer, 1)}),
    b: () => select({mode: cycle(state.info.modes, state.sel.mode, 1)}),
    m: () => select({rendering: cycle(state.info.renderings, state.sel.rendering, 1)}),
    c: () => select({at: null, token: null}),
    f: toggleFreeze,
    e: () => step(1), w: () => step(-1),
    v: () => send({type: "optimize"}),
    h: () => { $("help").hidden = !$("help").hidden; },
    Escape: () => { $("help").hidden = true; },
  };
  const action = actions[e.key];
  if (action) { e.preventDefault(); action(); }
});
setInterval(() => { if (state.sel) drawStatus(); }, 1000);
