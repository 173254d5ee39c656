// The "Train here" card of `infer serve`: the form (built from the training tool's own options,
// as GET /api/train lists them), start and stop, and the live view fed by the server's events
// (GET /api/train/events): the loss and accuracy curves, the first layer's kernels and the
// answer of the network being trained for the digit on the pad. Uses app.js's helpers.
"use strict";

// The options the form shows, in order (the API takes every option the server lists).
const FORM_SETTINGS = [
  "model", "optimizer", "lr", "momentum", "batch-size", "epochs", "train-limit",
  "pool", "dropout", "init", "augment-shift", "augment-rotate", "jitter", "seed", "test-limit",
];

// Prefix of the training settings in the page's address.
const URL_PREFIX = "t.";

let trainInfo = null;
let trainRun = null;
let liveAsked = 0;

function trainStatus(text, isError = false) {
  const line = $("train-status");
  line.textContent = text;
  line.classList.toggle("error", isError);
}

// The form's fields: a list for options with choices, a box for the others, each starting at
// the address's value, else the page's preset, else the tool's default.
function buildForm(settings, params) {
  const fields = FORM_SETTINGS.map((name) => settings.find((s) => s.name === name)).filter(Boolean).map((setting) => {
    const label = document.createElement("label");
    label.title = setting.help;
    label.append(setting.name);
    const start = params.get(URL_PREFIX + setting.name) ?? setting.preset ?? setting.default ?? "";
    let input;
    if (setting.choices.length > 0) {
      input = document.createElement("select");
      for (const choice of setting.choices) input.append(Object.assign(document.createElement("option"), { value: choice, textContent: choice }));
    } else {
      input = document.createElement("input");
      input.type = "text";
      input.inputMode = "decimal";
      input.placeholder = setting.default === null ? "(not set)" : setting.default;
    }
    input.name = setting.name;
    input.value = start;
    input.dataset.start = setting.preset ?? setting.default ?? "";
    input.dataset.default = setting.default ?? "";
    input.addEventListener("change", () => saveState());
    label.append(input);
    return label;
  });
  $("train-form").replaceChildren(...fields);
}

// The form's settings: the fields set to other than the tool's default (an empty box leaves
// the option unset), so that the tool warns only about what was chosen.
function formSettings() {
  const settings = {};
  for (const input of $("train-form").elements) {
    const value = input.value.trim();
    if (value !== "" && value !== input.dataset.default) settings[input.name] = value;
  }
  return settings;
}

// The settings that differ from where the form starts go into the address.
function saveTrainSettings(state) {
  for (const input of $("train-form").elements) {
    if (input.value !== input.dataset.start) state.set(URL_PREFIX + input.name, input.value);
  }
}

$("train-start").addEventListener("click", async () => {
  try {
    const run = await getJson("/api/train", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(formSettings()),
    });
    showRun(run);
  } catch (error) {
    trainStatus(error.message, true);
  }
});

$("train-stop").addEventListener("click", async () => {
  try {
    await getJson("/api/train", { method: "DELETE", headers: { "Content-Type": "application/json" } });
  } catch (error) {
    trainStatus(error.message, true);
  }
});

// Reads the trainer's state, builds the form and follows the events.
async function startTraining(params) {
  try {
    trainInfo = await getJson("/api/train");
  } catch (error) {
    trainStatus(`cannot read the training state: ${error.message}`, true);
    return;
  }
  buildForm(trainInfo.settings, params);
  if (!trainInfo.enabled) {
    $("train-start").disabled = true;
    trainStatus("This server does not train: start infer serve with --runs DIR to train from the page.");
    return;
  }
  $("train-card").dataset.threads = trainInfo.threads;
  if (trainInfo.run) showRun(trainInfo.run);
  else trainStatus(`Ready: a training gets ${trainInfo.threads} thread(s) of this server; the page's requests keep the rest.`);
  const events = new EventSource("/api/train/events");
  events.addEventListener("run", (event) => {
    const run = JSON.parse(event.data);
    if (run) showRun(run);
  });
  events.addEventListener("progress", (event) => {
    if (!trainRun) return;
    const point = JSON.parse(event.data);
    const last = trainRun.progress[trainRun.progress.length - 1];
    if (last && last.epoch === point.epoch && last.iteration >= point.iteration) return;
    trainRun.progress.push(point);
    showProgress();
  });
  events.addEventListener("epoch", (event) => {
    if (!trainRun) return;
    const record = JSON.parse(event.data);
    if (!trainRun.history.some((r) => r.epoch === record.epoch)) trainRun.history.push(record);
    showProgress();
  });
  events.addEventListener("snapshot", (event) => {
    if (!trainRun) return;
    const snapshot = JSON.parse(event.data);
    trainRun.snapshots = snapshot.snapshots;
    trainRun.kernels = snapshot.kernels;
    showKernels();
    showLiveAnswer();
  });
}

function isActive(run) {
  return run.status === "running" || run.status === "stopping";
}

async function showRun(run) {
  const ended = trainRun && isActive(trainRun) && !isActive(run);
  trainRun = run;
  $("train-card").dataset.status = run.status;
  $("train-card").dataset.run = run.name;
  $("train-start").disabled = isActive(run);
  $("train-stop").disabled = run.status !== "running";
  showProgress();
  showKernels();
  if (ended || !isActive(run)) {
    try {
      await loadModels();
    } catch (error) {
      trainStatus(error.message, true);
    }
  }
  showLiveAnswer();
}

function showProgress() {
  const run = trainRun;
  const last = run.progress[run.progress.length - 1];
  const where = last ? `epoch ${last.epoch} of ${last.epochs}, ${last.images} of ${last.epoch_images} images` : "starting";
  const epochs = run.history.map((r) => `epoch ${r.epoch}: valid ${r.valid_accuracy.toFixed(2)}%`).join(", ");
  const seconds = `${run.seconds.toFixed(1)} s`;
  const warnings = run.warnings.length ? ` (${run.warnings.join("; ")})` : "";
  switch (run.status) {
    case "running":
      trainStatus(`${run.name}: training, ${where}${epochs ? `; ${epochs}` : ""}${warnings}`);
      break;
    case "stopping":
      trainStatus(`${run.name}: stopping: the epoch ends at its next batch and is validated...`);
      break;
    case "failed":
      trainStatus(`${run.name} failed: ${run.error}`, true);
      break;
    default:
      trainStatus(`${run.name}: ${run.status} in ${seconds}; ${epochs}; test accuracy ${run.test_accuracy.toFixed(2)}%. It is in the model picker above.`);
  }
  $("train-card").dataset.points = run.progress.length;
  $("train-card").dataset.epochs = run.history.length;
  drawTrainCurve(run);
}

// Loss (left axis, from 0 to the largest seen) and accuracy (right axis, 0-100%) against the
// epochs: lines for the training batches, dots for each epoch's validation.
function drawTrainCurve(run) {
  const svg = $("train-curve");
  const element = svgElement;
  const [left, right, top, bottom] = [44, 476, 10, 190];
  const epochs = Math.max(run.config.epochs, 1);
  const at = (p) => p.epoch - 1 + (p.epoch_images ? p.images / p.epoch_images : 1);
  const losses = run.progress.map((p) => p.loss).concat(run.history.map((r) => r.valid_loss)).filter(Number.isFinite);
  const most = Math.max(0.1, ...losses);
  const x = (epoch) => left + ((right - left) * epoch) / epochs;
  const yLoss = (loss) => bottom - ((bottom - top) * Math.min(loss, most)) / most;
  const yAcc = (accuracy) => bottom - ((bottom - top) * accuracy) / 100;
  const parts = [];
  for (const t of [0, 0.5, 1]) {
    parts.push(element("line", { x1: left, x2: right, y1: top + (bottom - top) * t, y2: top + (bottom - top) * t, class: "grid" }));
    parts.push(element("text", { x: left - 6, y: top + (bottom - top) * t + 4, "text-anchor": "end" }, (most * (1 - t)).toFixed(2)));
    parts.push(element("text", { x: right + 6, y: top + (bottom - top) * t + 4 }, `${100 * (1 - t)}%`));
  }
  for (let e = 0; e <= epochs; e++) parts.push(element("text", { x: x(e), y: bottom + 16, "text-anchor": "middle" }, e));
  parts.push(element("text", { x: (left + right) / 2, y: bottom + 28, "text-anchor": "middle" }, "epochs"));
  const line = (points, colour) => {
    if (points.length > 0) parts.push(element("polyline", { points: points.join(" "), fill: "none", stroke: colour, "stroke-width": 1.5 }));
  };
  line(run.progress.map((p) => `${x(at(p))},${yLoss(p.loss)}`), "#2563eb");
  line(run.progress.map((p) => `${x(at(p))},${yAcc(p.accuracy)}`), "#16a34a");
  for (const r of run.history) {
    parts.push(element("circle", { cx: x(r.epoch), cy: yLoss(r.valid_loss), r: 4, fill: "#dc2626" }));
    parts.push(element("circle", { cx: x(r.epoch), cy: yAcc(r.valid_accuracy), r: 4, fill: "#9333ea" }));
  }
  svg.replaceChildren(...parts);
}

function showKernels() {
  const kernels = trainRun?.kernels;
  $("train-kernels").replaceChildren(...(kernels ? [mapsBlock({ ...kernels, title: `${kernels.title}, snapshot ${trainRun.snapshots}` }, diverging)] : []));
}

// The network being trained (its latest snapshot; the kept model once it ended) on the pad's
// digit: its answer and its first layer's maps.
async function showLiveAnswer() {
  if (!trainRun || trainRun.status === "failed" || trainRun.snapshots === 0 || !current) return;
  const ticket = ++liveAsked;
  try {
    const look = await ask(trainRun.name, true);
    if (ticket !== liveAsked) return;
    const title = document.createElement("p");
    title.className = "hint";
    title.textContent = `${trainRun.name} on your digit: ${look.digit}`;
    const blocks = [title, ...probabilityBars(look)];
    if (look.maps.length > 0) blocks.push(mapsBlock(look.maps[0], greyMap));
    $("train-answer").replaceChildren(...blocks);
    $("train-answer").dataset.digit = look.digit;
  } catch (_) {
    // The run's name answers once its first snapshot is in; the next snapshot asks again.
  }
}
