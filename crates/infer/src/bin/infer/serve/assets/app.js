// The page of `infer serve`: draw, send, show. Plain JavaScript, no dependencies.
"use strict";

const $ = (id) => document.getElementById(id);
const pad = $("pad");
const ctx = pad.getContext("2d");

// The input the page last sent: a picture (Blob) or MNIST pixels (JSON), resent when the
// model or the shift changes.
let current = null;
let truth = null;
let models = [];
let inflight = 0;

function clearPad() {
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, pad.width, pad.height);
}

function status(text, isError = false) {
  const line = $("status");
  line.textContent = text;
  line.classList.toggle("error", isError);
}

// Drawing: mouse, pen and touch through pointer events.
let drawing = false;
let inked = false;

function point(event) {
  const box = pad.getBoundingClientRect();
  return [
    ((event.clientX - box.left) * pad.width) / box.width,
    ((event.clientY - box.top) * pad.height) / box.height,
  ];
}

pad.addEventListener("pointerdown", (event) => {
  event.preventDefault();
  if (!inked || current?.kind !== "drawing") {
    clearPad();
    truth = null;
  }
  pad.setPointerCapture(event.pointerId);
  drawing = true;
  inked = true;
  ctx.strokeStyle = "#000";
  ctx.lineWidth = pad.width / 13;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  const [x, y] = point(event);
  ctx.beginPath();
  ctx.moveTo(x, y);
  ctx.lineTo(x + 0.01, y);
  ctx.stroke();
});

pad.addEventListener("pointermove", (event) => {
  if (!drawing) return;
  const [x, y] = point(event);
  ctx.lineTo(x, y);
  ctx.stroke();
});

function endStroke() {
  if (!drawing) return;
  drawing = false;
  pad.toBlob((blob) => {
    current = { kind: "drawing", body: blob, type: "image/png" };
    predict();
  }, "image/png");
}
pad.addEventListener("pointerup", endStroke);
pad.addEventListener("pointercancel", endStroke);

$("clear").addEventListener("click", () => {
  clearPad();
  inked = false;
  current = null;
  truth = null;
  showEmpty();
  saveState();
});

$("random").addEventListener("click", () => loadSample(null));

// A test digit of MNIST (a random one for `index` null), drawn on the pad and sent.
async function loadSample(index) {
  try {
    const sample = await getJson(index === null ? "/api/sample" : `/api/sample?index=${index}`);
    drawPixels(sample.pixels);
    inked = false;
    truth = sample.label;
    current = {
      kind: "sample",
      body: JSON.stringify({ pixels: sample.pixels }),
      type: "application/json",
      label: `MNIST test image ${sample.index}`,
      index: sample.index,
    };
    predict();
  } catch (error) {
    status(error.message, true);
  }
}

$("upload").addEventListener("change", async (event) => {
  const file = event.target.files[0];
  if (!file) return;
  event.target.value = "";
  try {
    const bitmap = await createImageBitmap(file);
    clearPad();
    const scale = Math.min(pad.width / bitmap.width, pad.height / bitmap.height);
    const w = bitmap.width * scale;
    const h = bitmap.height * scale;
    ctx.drawImage(bitmap, (pad.width - w) / 2, (pad.height - h) / 2, w, h);
  } catch (_) {
    clearPad();
  }
  inked = false;
  truth = null;
  current = { kind: "upload", body: file, type: file.type || "application/octet-stream" };
  predict();
});

// MNIST pixels (0 = background) drawn black on white on the pad.
function drawPixels(pixels) {
  const cell = pad.width / 28;
  clearPad();
  for (let i = 0; i < 784; i++) {
    const v = 255 - pixels[i];
    if (v === 255) continue;
    ctx.fillStyle = `rgb(${v},${v},${v})`;
    ctx.fillRect((i % 28) * cell, Math.floor(i / 28) * cell, cell + 0.5, cell + 0.5);
  }
}

for (const axis of ["dx", "dy"]) {
  $(axis).addEventListener("input", () => {
    $(`${axis}-out`).textContent = $(axis).value;
    predict();
  });
}
$("center").addEventListener("click", () => {
  for (const axis of ["dx", "dy"]) {
    $(axis).value = 0;
    $(`${axis}-out`).textContent = "0";
  }
  predict();
});
$("model").addEventListener("change", () => {
  showModel();
  predict();
});
for (let digit = 0; digit < 10; digit++) {
  $("class").append(Object.assign(document.createElement("option"), { value: digit, textContent: digit }));
}
$("class").addEventListener("change", () => predict());

async function getJson(url, options) {
  const response = await fetch(url, options);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || `${response.status} ${response.statusText}`);
  return body;
}

function saliencyUrl(model) {
  const query = new URLSearchParams({ model, dx: $("dx").value, dy: $("dy").value });
  if ($("class").value !== "") query.set("class", $("class").value);
  return `/api/saliency?${query}`;
}

function predictUrl(model, maps) {
  const query = new URLSearchParams({
    model,
    dx: $("dx").value,
    dy: $("dy").value,
    maps: String(maps),
  });
  return `/api/predict?${query}`;
}

function ask(model, maps) {
  return getJson(predictUrl(model, maps), {
    method: "POST",
    headers: { "Content-Type": current.type },
    body: current.body,
  });
}

// Sends the current input to the chosen model (with the feature maps) and to the others
// (answer only), and shows the answers. An answer older than the latest request is dropped.
async function predict() {
  saveState();
  if (!current) return;
  const chosen = $("model").value;
  const ticket = ++inflight;
  try {
    const look = await ask(chosen, true);
    if (ticket !== inflight) return;
    showLook(look);
    showLiveAnswer();
    const attended = await getJson(saliencyUrl(chosen), {
      method: "POST",
      headers: { "Content-Type": current.type },
      body: current.body,
    });
    if (ticket !== inflight) return;
    showAttention(attended);
    const others = models.filter((m) => m.name !== chosen);
    const answers = await Promise.all(others.map((m) => ask(m.name, false)));
    if (ticket !== inflight) return;
    showComparison(answers);
  } catch (error) {
    if (ticket === inflight) status(error.message, true);
  }
}

function showEmpty() {
  $("digit").textContent = "?";
  $("truth").textContent = "";
  $("bars").replaceChildren();
  $("compare").replaceChildren();
  $("maps").replaceChildren();
  $("attention-note").textContent = "";
  $("pixel-story").replaceChildren();
  const pixelInput = $("pixel-input").getContext("2d");
  pixelInput.fillStyle = "#000";
  pixelInput.fillRect(0, 0, 28, 28);
  delete $("attention-card").dataset.class;
  for (const id of ["saliency", "occlusion"]) {
    const canvas = $(id).getContext("2d");
    canvas.fillStyle = "#000";
    canvas.fillRect(0, 0, 28, 28);
  }
  const input = $("input").getContext("2d");
  input.fillStyle = "#000";
  input.fillRect(0, 0, 28, 28);
  status("Draw a digit, load a random test digit or upload a picture.");
}

function showLook(look) {
  lastInput = look.input;
  drawInput(null);

  $("digit").textContent = look.digit;
  const truthLine = $("truth");
  truthLine.className = "truth";
  if (truth !== null) {
    truthLine.textContent = `${current.label}: true label ${truth}`;
    truthLine.classList.add(look.digit === truth ? "right" : "wrong");
  } else {
    truthLine.textContent = "";
  }

  $("bars").replaceChildren(...probabilityBars(look));

  const layers = look.maps.map((layer, index) =>
    mapsBlock(layer, greyMap, (channel, x, y) => explainPixel(index + 1, channel, x, y)),
  );
  if (layers.length === 0) {
    const note = document.createElement("p");
    note.className = "hint";
    note.textContent = `${look.model} has no convolution layers: it sees 784 separate pixels.`;
    layers.push(note);
  }
  $("maps").replaceChildren(...layers);
  const shift = `${$("dx").value}, ${$("dy").value}`;
  status(`${look.model} answered in ${look.inference_ms.toFixed(2)} ms (server-side, with the maps); shift ${shift}`);
}

// A prediction's ten probabilities as bars, its answer highlighted.
function probabilityBars(prediction) {
  return prediction.probabilities.map((p, digit) => {
    const row = document.createElement("div");
    row.className = digit === prediction.digit ? "bar top" : "bar";
    const label = document.createElement("span");
    label.textContent = digit;
    const track = document.createElement("div");
    track.className = "track";
    const fill = document.createElement("div");
    fill.className = "fill";
    fill.style.width = `${(100 * p).toFixed(1)}%`;
    track.append(fill);
    const pct = document.createElement("span");
    pct.className = "pct";
    pct.textContent = `${(100 * p).toFixed(1)}%`;
    row.append(label, track, pct);
    return row;
  });
}

// The saliency (red over the input's grey) and the occlusion (red where hiding the square
// lowers the class's probability, blue where it raises it), 28x28 each.
function showAttention(attended) {
  const base = attended.probabilities[attended.class];
  const paint = (id, colour) => {
    const canvas = $(id).getContext("2d");
    const image = canvas.createImageData(28, 28);
    for (let i = 0; i < 784; i++) image.data.set([...colour(i), 255], i * 4);
    canvas.putImageData(image, 0, 0);
  };
  paint("saliency", (i) => {
    const ink = Math.round(attended.input[i] * 0.35);
    const heat = attended.saliency[i];
    return [Math.round(ink + (255 - ink) * heat), ink, ink];
  });
  paint("occlusion", (i) => {
    const change = base > 0 ? (base - attended.occlusion[i]) / base : 0;
    const t = Math.min(Math.abs(change), 1);
    const ink = Math.round(attended.input[i] * 0.35);
    const hot = Math.round(ink + (255 - ink) * t);
    return change >= 0 ? [hot, ink, ink] : [ink, ink, hot];
  });
  $("attention-note").textContent = `class ${attended.class}: probability ${(100 * base).toFixed(1)}% as drawn; ${attended.inference_ms.toFixed(0)} ms on the server`;
  $("attention-card").dataset.class = String(attended.class);
}

// The input as the network got it (MNIST's white ink on black), with `field` outlined.
let lastInput = null;

function drawInput(field, id = "input") {
  const input = $(id).getContext("2d");
  const image = input.createImageData(28, 28);
  lastInput.forEach((v, i) => {
    image.data.set([v, v, v, 255], i * 4);
  });
  input.putImageData(image, 0, 0);
  if (field) {
    input.strokeStyle = "#facc15";
    input.lineWidth = 1;
    input.strokeRect(field.left + 0.5, field.top + 0.5, field.right - field.left, field.bottom - field.top);
  }
}

// Inside one pixel: asks the server for the story of a map pixel and tells it.
async function explainPixel(layer, channel, x, y) {
  if (!current) return;
  const query = new URLSearchParams({
    model: $("model").value, layer, channel, x, y, dx: $("dx").value, dy: $("dy").value,
  });
  try {
    const story = await getJson(`/api/pixel?${query}`, {
      method: "POST",
      headers: { "Content-Type": current.type },
      body: current.body,
    });
    showPixel(story, channel, x, y);
  } catch (error) {
    status(error.message, true);
  }
}

const fixed = (v) => v.toFixed(3);

function showPixel(story, channel, x, y) {
  drawInput(story.field);
  drawInput(story.field, "pixel-input");
  const f = story.field;
  const parts = [];
  const line = (text) => parts.push(Object.assign(document.createElement("p"), { textContent: text }));
  line(`${story.layer_name}, map ${channel}, pixel (${x}, ${y}): ${fixed(story.value)} after the ReLU.`);
  line(`It sees input pixels ${f.left}-${f.right} across and ${f.top}-${f.bottom} down: a ${f.side}x${f.side} receptive field${f.right - f.left + 1 < f.side || f.bottom - f.top + 1 < f.side ? ", part of it the zero padding past the border" : ""} (outlined in yellow on the input).`);
  if (story.products) {
    const p = story.products;
    const side = Math.round(Math.sqrt(p.kernel.length));
    const grid = (title, values) => {
      const table = document.createElement("table");
      table.className = "numbers";
      table.createCaption().textContent = title;
      for (let r = 0; r < side; r++) {
        const row = table.insertRow();
        for (let c = 0; c < side; c++) row.insertCell().textContent = values[r * side + c].toFixed(2);
      }
      return table;
    };
    const tables = document.createElement("div");
    tables.className = "products";
    tables.append(grid("input window (normalised)", p.window), grid(`kernel of map ${channel}`, p.kernel));
    parts.push(tables);
    const products = p.sum - p.bias;
    const sum = document.createElement("p");
    sum.id = "pixel-sum";
    sum.textContent = `sum of the ${p.kernel.length} products ${fixed(products)} + bias ${fixed(p.bias)} = ${fixed(p.sum)}; ReLU: max(0, ${fixed(p.sum)}) = ${fixed(Math.max(0, p.sum))}`;
    parts.push(sum);
    $("pixel-card").dataset.sum = String(Math.max(0, p.sum));
  } else {
    delete $("pixel-card").dataset.sum;
  }
  const sizes = document.createElement("ul");
  for (const size of story.sizes) {
    sizes.append(Object.assign(document.createElement("li"), { textContent: `${size.layer}: ${size.formula}` }));
  }
  line("Each layer's output side, (W - F + 2P)/S + 1:");
  parts.push(sizes);
  $("pixel-story").replaceChildren(...parts);
  $("pixel-card").dataset.value = String(story.value);
  $("pixel-card").dataset.field = `${f.left},${f.top},${f.right},${f.bottom}`;
}

function showComparison(answers) {
  const parts = answers.map((a) => {
    const b = document.createElement("b");
    b.textContent = `${a.digit}`;
    const span = document.createElement("span");
    span.append(`${a.model}: `, b, ` (${(100 * a.probabilities[a.digit]).toFixed(0)}%)`);
    return span;
  });
  const line = $("compare");
  line.replaceChildren();
  if (parts.length === 0) return;
  line.append("Other models on the same input: ");
  parts.forEach((part, i) => {
    if (i > 0) line.append(" · ");
    line.append(part);
  });
}

// One layer's maps as a row of small canvases, coloured by `paint`; a click on a map's pixel
// calls `pick(channel, x, y)` when given.
function mapsBlock(layer, paint, pick) {
  const block = document.createElement("div");
  block.className = "layer";
  const title = document.createElement("h3");
  title.textContent = layer.title;
  const grid = document.createElement("div");
  grid.className = "maps";
  const size = layer.height * layer.width;
  let scale = 0;
  for (const v of layer.values) scale = Math.max(scale, Math.abs(v));
  for (let c = 0; c < layer.channels; c++) {
    const canvas = document.createElement("canvas");
    canvas.width = layer.width;
    canvas.height = layer.height;
    const map = canvas.getContext("2d");
    const image = map.createImageData(layer.width, layer.height);
    for (let i = 0; i < size; i++) {
      image.data.set([...paint(layer.values[c * size + i], scale), 255], i * 4);
    }
    map.putImageData(image, 0, 0);
    if (pick) {
      canvas.classList.add("pickable");
      canvas.addEventListener("click", (event) => {
        const box = canvas.getBoundingClientRect();
        const x = Math.min(layer.width - 1, Math.floor(((event.clientX - box.left) * layer.width) / box.width));
        const y = Math.min(layer.height - 1, Math.floor(((event.clientY - box.top) * layer.height) / box.height));
        pick(c, x, y);
      });
    }
    grid.append(canvas);
  }
  block.append(title, grid);
  return block;
}

// ReLU outputs: black (0) to white (the layer's largest value).
function greyMap(v, scale) {
  const g = scale > 0 ? Math.round((255 * Math.max(v, 0)) / scale) : 0;
  return [g, g, g];
}

// Kernel weights: blue below zero, white at zero, red above.
function diverging(v, scale) {
  const t = scale > 0 ? Math.min(Math.abs(v) / scale, 1) : 0;
  const fade = Math.round(255 * (1 - t));
  return v < 0 ? [fade, fade, 255] : [255, fade, fade];
}

// The shift curves: accuracy (0-100%) against the shift (0-8 px), one line per model.
const CURVE_COLOURS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2"];

$("measure").addEventListener("click", async () => {
  const images = $("curve-images").value;
  status(`measuring every model on ${images} moved test images...`);
  try {
    showCurves(await getJson(`/api/shifts?${new URLSearchParams({ images })}`));
    curvesMeasured = images;
    saveState();
    status(`shift curves: ${images} test images per shift`);
  } catch (error) {
    status(error.message, true);
  }
});

// An SVG element `name` with `attributes` and, if given, `text`.
function svgElement(name, attributes, text) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function showCurves(curves) {
  const svg = $("curve");
  const element = svgElement;
  const [left, right, top, bottom] = [44, 500, 12, 224];
  const last = curves.shifts[curves.shifts.length - 1];
  const x = (shift) => left + ((right - left) * shift) / last;
  const y = (accuracy) => bottom - ((bottom - top) * accuracy) / 100;
  const parts = [];
  const legend = [];
  for (const accuracy of [0, 25, 50, 75, 100]) {
    parts.push(element("line", { x1: left, x2: right, y1: y(accuracy), y2: y(accuracy), class: "grid" }));
    parts.push(element("text", { x: left - 6, y: y(accuracy) + 4, "text-anchor": "end" }, `${accuracy}%`));
  }
  for (const shift of curves.shifts) {
    parts.push(element("text", { x: x(shift), y: bottom + 16, "text-anchor": "middle" }, shift));
  }
  parts.push(element("text", { x: (left + right) / 2, y: bottom + 32, "text-anchor": "middle" }, "pixels moved right"));
  curves.models.forEach((model, i) => {
    const colour = CURVE_COLOURS[i % CURVE_COLOURS.length];
    const points = model.accuracy.map((a, s) => `${x(curves.shifts[s])},${y(a)}`).join(" ");
    parts.push(element("polyline", { points, fill: "none", stroke: colour, "stroke-width": 2, class: "curve" }));
    const entry = document.createElement("span");
    entry.style.color = colour;
    entry.textContent = `${model.name}: ${model.accuracy[0].toFixed(1)}% → ${model.accuracy[last].toFixed(1)}%`;
    legend.push(entry);
  });
  svg.replaceChildren(...parts);
  $("curve-legend").replaceChildren(...legend);
}

function showModel() {
  const model = models.find((m) => m.name === $("model").value);
  if (!model) return;
  const kernels = model.first_layer_kernels;
  $("kernels").replaceChildren(
    kernels
      ? mapsBlock(kernels, diverging)
      : Object.assign(document.createElement("p"), {
          className: "hint",
          textContent: `${model.name} has no convolution layer.`,
        }),
  );
}

function showSummaries() {
  const blocks = models.map((model) => {
    const block = document.createElement("div");
    const name = document.createElement("p");
    name.className = "summary-name";
    const committee = model.members > 1 ? `a committee of ${model.members} (the layers: its first member's), ` : "";
    name.textContent = `${model.name}: ${committee}${model.summary.model}, ${model.parameters.toLocaleString("en")} parameters, ${model.kernels} kernels`;
    const table = document.createElement("table");
    const head = table.createTHead().insertRow();
    for (const [text, cls] of [["layer", ""], ["", ""], ["output", "num"], ["parameters", "num"]]) {
      const th = document.createElement("th");
      th.textContent = text;
      th.className = cls;
      head.append(th);
    }
    const body = table.createTBody();
    for (const layer of model.summary.layers) {
      const row = body.insertRow();
      row.insertCell().textContent = layer.name;
      row.insertCell().textContent = layer.description;
      const shape = row.insertCell();
      shape.textContent = layer.output_shape.join("×");
      shape.className = "num";
      const params = row.insertCell();
      params.textContent = layer.params.toLocaleString("en");
      params.className = "num";
    }
    const scroll = document.createElement("div");
    scroll.className = "table-scroll";
    scroll.append(table);
    block.append(name, scroll);
    return block;
  });
  $("summary").replaceChildren(...blocks);
}

// The page's state in its address, so that a link opens the same view: the model, the shift,
// the class of the saliency maps, the test digit shown, the shift curves measured (and, as the
// fragment, the card scrolled to).
let curvesMeasured = null;

function saveState() {
  const state = new URLSearchParams();
  if ($("model").value) state.set("model", $("model").value);
  for (const axis of ["dx", "dy"]) if ($(axis).value !== "0") state.set(axis, $(axis).value);
  if ($("class").value !== "") state.set("class", $("class").value);
  if (current?.kind === "sample") state.set("sample", current.index);
  if (curvesMeasured !== null) state.set("curves", curvesMeasured);
  saveTrainSettings(state);
  const query = state.toString();
  history.replaceState(null, "", `${location.pathname}${query ? `?${query}` : ""}${location.hash}`);
}

// Applies the state of the address (unknown or out-of-range values are left at their defaults).
function restoreState() {
  const state = new URLSearchParams(location.search);
  const model = state.get("model");
  if (model && models.some((m) => m.name === model)) $("model").value = model;
  for (const axis of ["dx", "dy"]) {
    const value = Number(state.get(axis));
    if (Number.isInteger(value) && Math.abs(value) <= Number($(axis).max)) {
      $(axis).value = value;
      $(`${axis}-out`).textContent = String(value);
    }
  }
  const digit = state.get("class");
  if (digit !== null && /^[0-9]$/.test(digit)) $("class").value = digit;
  const images = Number(state.get("curves"));
  if (Number.isInteger(images) && images >= 1 && images <= Number($("curve-images").max)) {
    $("curve-images").value = images;
    $("measure").click();
  }
  const sample = Number(state.get("sample"));
  if (state.has("sample") && Number.isInteger(sample) && sample >= 0) loadSample(sample);
  if (location.hash) document.getElementById(location.hash.slice(1))?.scrollIntoView();
}

// Lists the served models in the picker (keeping the one chosen) and their layer tables.
async function loadModels() {
  models = await getJson("/api/models");
  const chosen = $("model").value;
  $("model").replaceChildren(
    ...models.map((m) => Object.assign(document.createElement("option"), { value: m.name, textContent: `${m.name} (${m.kind}${m.members > 1 ? `, committee of ${m.members}` : ""})` })),
  );
  if (models.some((m) => m.name === chosen)) $("model").value = chosen;
  showModel();
  showSummaries();
}

async function start() {
  clearPad();
  showEmpty();
  try {
    await loadModels();
  } catch (error) {
    status(`cannot list the models: ${error.message}`, true);
    return;
  }
  restoreState();
  showModel();
  await startTraining(new URLSearchParams(location.search));
  document.body.dataset.ready = "true";
}

start();
