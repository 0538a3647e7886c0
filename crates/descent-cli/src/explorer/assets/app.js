// The explorer's page: its state lives in `explorer` (and in the URL's fragment, so that a link restores it); every
// number on it comes from the server's API, which runs the descent library.
'use strict';

const explorer = {
  catalog: null,
  fn: 'himmelblau',        // a built-in surface's name or an expression
  surface: null,           // the answer of /api/surface
  start: null,             // [x, y]
  steps: 200,
  noise: 0,
  seed: 0,
  schedule: '',
  optimizers: [],          // {name, values: {key: value}, note}
  runs: [],                // the answer of /api/race
  command: '',
  shown: 200,              // the step shown
  playing: false,
  races: 0,                // races answered so far (scripts wait on it)
  map: null,               // the contour map shown: its function and size ('himmelblau@640')
  error: null,
};
window.explorer = explorer;

const $ = (id) => document.getElementById(id);
const DEFAULT_OPTIMIZERS = ['sgd(lr=0.01)', 'momentum(lr=0.01)', 'rmsprop(lr=0.05)', 'adam(lr=0.1)'];

// ---------------------------------------------------------------------------------------------- specs and values

/** A number as the page sends it: at most four significant digits, in the shortest form. */
function formatNumber(v) {
  if (v === null || v === undefined) return '–';   // JSON's null: a value that was not finite
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return '0';
  return String(Number(v.toPrecision(4)));
}

/** A value in Python's spelling, as specs take it. */
function pythonValue(v) {
  if (v === null) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (Array.isArray(v)) return '(' + v.map(pythonValue).join(', ') + ')';
  if (typeof v === 'number') return formatNumber(v);
  return String(v);
}

function entry(name) {
  return explorer.catalog.optimizers.find((o) => o.name === name || o.aliases.includes(name));
}

/** The spec of an optimizer: its name, with the keys that differ from the defaults. */
function specOf(optimizer) {
  const keys = entry(optimizer.name).hyperparameters
    .filter((h) => optimizer.values[h.name] !== undefined
      && pythonValue(optimizer.values[h.name]) !== pythonValue(h.default))
    .map((h) => `${h.name}=${pythonValue(optimizer.values[h.name])}`);
  return keys.length ? `${optimizer.name}(${keys.join(', ')})` : optimizer.name;
}

/** Splits `text` at top-level commas. */
function splitTop(text) {
  const parts = [];
  let depth = 0, current = '';
  for (const c of text) {
    if (c === '(' || c === '[') depth++;
    if (c === ')' || c === ']') depth--;
    if (c === ',' && depth === 0) { parts.push(current); current = ''; } else current += c;
  }
  if (current.trim()) parts.push(current);
  return parts.map((p) => p.trim());
}

function parseValue(text) {
  const t = text.trim();
  if (t === 'True' || t === 'true') return true;
  if (t === 'False' || t === 'false') return false;
  if (t === 'None') return null;
  if ((t.startsWith('(') && t.endsWith(')')) || (t.startsWith('[') && t.endsWith(']'))) {
    return splitTop(t.slice(1, -1)).map(parseValue);
  }
  const n = Number(t);
  return t !== '' && Number.isFinite(n) ? n : t;
}

/** An optimizer from a spec such as `adam(lr=0.1, betas=(0.9, 0.99))`, or null if its name is unknown. */
function parseSpec(text) {
  const match = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\((.*)\))?\s*$/s.exec(text);
  if (!match || !entry(match[1].toLowerCase())) return null;
  const optimizer = { name: entry(match[1].toLowerCase()).name, values: {}, note: '' };
  for (const part of splitTop(match[2] || '')) {
    const eq = part.indexOf('=');
    if (eq > 0) optimizer.values[part.slice(0, eq).trim()] = parseValue(part.slice(eq + 1));
  }
  return optimizer;
}

function defaults(name) {
  const values = {};
  for (const h of entry(name).hyperparameters) values[h.name] = structuredClone(h.default);
  return values;
}

function newOptimizer(spec) {
  const parsed = parseSpec(spec);
  return { name: parsed.name, values: { ...defaults(parsed.name), ...parsed.values }, note: '' };
}

// ------------------------------------------------------------------------------------------------ the URL

function writeUrl() {
  const p = new URLSearchParams();
  p.set('f', explorer.fn);
  if (explorer.start) p.set('start', explorer.start.map(formatNumber).join(','));
  p.set('steps', explorer.steps);
  if (explorer.noise) { p.set('noise', explorer.noise); p.set('seed', explorer.seed); }
  if (explorer.schedule) p.set('schedule', explorer.schedule);
  for (const o of explorer.optimizers) p.append('o', specOf(o));
  history.replaceState(null, '', '#' + p.toString());
}

function readUrl() {
  const p = new URLSearchParams(location.hash.slice(1));
  if (p.has('f')) explorer.fn = p.get('f');
  if (p.has('start')) {
    const start = p.get('start').split(',').map(Number);
    if (start.length === 2 && start.every(Number.isFinite)) explorer.start = start;
  }
  const integer = (key, fallback) => (p.has(key) && Number.isInteger(Number(p.get(key))) ? Number(p.get(key)) : fallback);
  explorer.steps = Math.max(1, integer('steps', explorer.steps));
  explorer.noise = Math.max(0, Number(p.get('noise')) || 0);
  explorer.seed = Math.max(0, integer('seed', 0));
  explorer.schedule = p.get('schedule') || '';
  const specs = p.getAll('o').filter((s) => parseSpec(s));
  explorer.optimizers = (specs.length ? specs : DEFAULT_OPTIMIZERS).map(newOptimizer);
}

// ---------------------------------------------------------------------------------------------- the API

async function api(path, body) {
  for (let attempt = 0; ; attempt++) {
    const response = await fetch(path, body === undefined ? {} : {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
    });
    if (response.status === 503 && attempt < 20) {   // busy: try again shortly
      await new Promise((r) => setTimeout(r, 300));
      continue;
    }
    if (!response.ok) {
      let message = `${response.status} ${response.statusText}`;
      try { message = (await response.json()).error; } catch (_) { /* not JSON */ }
      throw new Error(message);
    }
    return response;
  }
}

function raceBody(optimizers, states) {
  const body = {
    function: explorer.fn, start: explorer.start, steps: explorer.steps,
    optimizers: optimizers.map(specOf), noise: explorer.noise, seed: explorer.seed,
  };
  if (explorer.schedule.trim()) body.lr_schedule = explorer.schedule.trim();
  if (states) body.states = true;
  return body;
}

function showError(id, message) {
  const element = $(id);
  element.textContent = message || '';
  element.hidden = !message;
}

let raceTimer = null;
let raceGeneration = 0;

/** Runs the race again, shortly (so that a dragged slider asks once it rests). */
function scheduleRace() {
  writeUrl();
  renderSpecs();
  clearTimeout(raceTimer);
  raceTimer = setTimeout(runRace, 120);
}

async function runRace() {
  const generation = ++raceGeneration;
  const limits = explorer.catalog.limits;
  // States for step mode when they are few enough to send quickly (the API allows more).
  const states = explorer.steps * explorer.optimizers.length <= Math.min(20000, limits.state_steps);
  try {
    const answer = await (await api('/api/race', raceBody(explorer.optimizers, states))).json();
    if (generation !== raceGeneration) return;
    explorer.runs = answer.runs;
    explorer.command = answer.command;
    explorer.error = null;
    showError('run-error', null);
    $('command').value = answer.command;
    if (!explorer.playing) explorer.shown = explorer.steps;
    explorer.races++;
    updatePlayer();
    draw();
  } catch (error) {
    if (generation !== raceGeneration) return;
    explorer.error = error.message;
    showError('run-error', error.message);
  }
}

// ------------------------------------------------------------------------------------------------ surfaces

let mapImage = null;
let mapKey = '';

async function loadSurface(fn, keepStart) {
  const answer = await (await api('/api/surface?function=' + encodeURIComponent(fn))).json();
  explorer.fn = fn;
  explorer.surface = answer;
  if (!keepStart || !explorer.start) explorer.start = answer.start.slice(0, 2);
  $('formula').textContent = 'J(x, y) = ' + answer.formula;
  const builtin = explorer.catalog.surfaces.some((s) => s.name === fn);
  $('surface').value = builtin ? fn : '';
  if (!builtin) $('expression').value = fn;
  loadMap();
}

function loadMap() {
  const canvas = $('map');
  const side = Math.max(64, Math.min(explorer.catalog.limits.map_side, canvas.width));
  const key = `${explorer.fn}@${side}`;
  if (key === mapKey) return;
  mapKey = key;
  showError('map-error', null);
  // Through the API, which asks again while the server is busy, so that a refusal is shown rather than lost.
  api(`/api/map?function=${encodeURIComponent(explorer.fn)}&width=${side}&height=${side}`)
    .then((response) => response.blob())
    .then((blob) => {
      if (mapKey !== key) return;
      const image = new Image();
      image.onload = () => {
        URL.revokeObjectURL(image.src);
        if (mapKey === key) { mapImage = image; explorer.map = key; showError('map-error', null); draw(); }
      };
      image.src = URL.createObjectURL(blob);
    })
    .catch((error) => {
      if (mapKey !== key) return;
      // mapKey stays: the same map is not asked for again, another surface or size is.
      mapImage = null;   // not the previous surface's map under this one's runs
      explorer.map = null;
      showError('map-error', 'The map could not be drawn: ' + error.message);
      draw();
    });
}

let expressionTimer = null;

function onExpressionInput() {
  clearTimeout(expressionTimer);
  const text = $('expression').value;
  if (!text.trim()) { showError('expression-error', null); return; }
  expressionTimer = setTimeout(async () => {
    try {
      await loadSurface(text, false);
      showError('expression-error', null);
      scheduleRace();
    } catch (error) {
      if ($('expression').value === text) showError('expression-error', error.message);
    }
  }, 250);
}

// --------------------------------------------------------------------------------------------- optimizer cards

const SLIDER_STEPS = 1000;

function toSlider(h, v) {
  const t = h.scale === 'log'
    ? Math.log(Math.max(v, h.min) / h.min) / Math.log(h.max / h.min)
    : (v - h.min) / (h.max - h.min);
  return Math.round(Math.min(1, Math.max(0, t)) * SLIDER_STEPS);
}

function fromSlider(h, position) {
  const t = position / SLIDER_STEPS;
  const v = h.scale === 'log' ? h.min * Math.pow(h.max / h.min, t) : h.min + t * (h.max - h.min);
  return Number(v.toPrecision(3));
}

function element(tag, properties = {}, children = []) {
  const e = document.createElement(tag);
  Object.assign(e, properties);
  for (const child of children) e.append(child);
  return e;
}

/** A slider for one number (`index` picks an element of a pair), showing the value it sends. */
function numberControl(optimizer, h, label, index) {
  const read = () => (index === undefined ? optimizer.values[h.name] : optimizer.values[h.name][index]);
  const output = element('output', { textContent: formatNumber(read()) });
  const slider = element('input', {
    type: 'range', min: 0, max: SLIDER_STEPS, step: 1, value: toSlider(h, read()),
    ariaLabel: `${optimizer.name} ${label}`,
  });
  slider.dataset.key = label;
  slider.addEventListener('input', () => {
    const v = fromSlider(h, Number(slider.value));
    if (index === undefined) optimizer.values[h.name] = v; else optimizer.values[h.name][index] = v;
    output.textContent = formatNumber(v);
    optimizer.note = '';
    scheduleRace();
  });
  return element('label', { className: 'control' }, [element('span', { textContent: label }), slider, output]);
}

function control(optimizer, h) {
  if (h.kind === 'number') return [numberControl(optimizer, h, h.name)];
  if (h.kind === 'numbers') return h.default.map((_, i) => numberControl(optimizer, h, `${h.name}[${i}]`, i));
  const output = element('output');
  let input;
  if (h.kind === 'bool') {
    input = element('input', { type: 'checkbox', checked: optimizer.values[h.name] === true });
    input.addEventListener('change', () => { optimizer.values[h.name] = input.checked; scheduleRace(); });
    output.textContent = pythonValue(optimizer.values[h.name]);
    input.addEventListener('change', () => { output.textContent = pythonValue(input.checked); });
  } else {
    input = element('input', {
      type: h.kind === 'int' ? 'number' : 'text', value: pythonValue(optimizer.values[h.name]),
    });
    if (h.kind === 'int') { input.min = h.min; input.max = h.max; input.step = 1; }
    input.addEventListener('change', () => {
      optimizer.values[h.name] = parseValue(input.value);
      output.textContent = pythonValue(optimizer.values[h.name]);
      scheduleRace();
    });
    output.textContent = pythonValue(optimizer.values[h.name]);
  }
  input.ariaLabel = `${optimizer.name} ${h.name}`;
  return [element('label', { className: 'control' }, [element('span', { textContent: h.name }), input, output])];
}

function renderOptimizers() {
  const list = $('optimizers');
  list.replaceChildren();
  const palette = explorer.catalog.palette;
  explorer.optimizers.forEach((optimizer, index) => {
    const card = element('div', { className: 'card' });
    card.style.setProperty('--color', palette[index % palette.length]);
    const kind = element('select', { ariaLabel: `Optimizer ${index + 1}` });
    for (const o of explorer.catalog.optimizers) kind.append(element('option', { value: o.name, textContent: o.name }));
    kind.value = optimizer.name;
    kind.addEventListener('change', () => {
      explorer.optimizers[index] = newOptimizer(kind.value);
      renderOptimizers();
      scheduleRace();
    });
    const tuneButton = element('button', { type: 'button', textContent: 'Tune lr', title: 'Choose the learning rate with the lowest final loss, as --tune does' });
    tuneButton.addEventListener('click', () => tuneOne(index));
    const reset = element('button', { type: 'button', textContent: 'Reset', title: "PyTorch's defaults" });
    reset.addEventListener('click', () => {
      optimizer.values = defaults(optimizer.name);
      optimizer.note = '';
      renderOptimizers();
      scheduleRace();
    });
    const remove = element('button', { type: 'button', textContent: '×', ariaLabel: `Remove optimizer ${index + 1}` });
    remove.disabled = explorer.optimizers.length === 1;
    remove.addEventListener('click', () => {
      explorer.optimizers.splice(index, 1);
      renderOptimizers();
      scheduleRace();
    });
    card.append(element('div', { className: 'head' }, [kind, tuneButton, reset, remove]));
    card.append(element('code', { className: 'spec' }));
    if (optimizer.note) card.append(element('div', { className: 'note', textContent: optimizer.note }));
    const hyper = entry(optimizer.name).hyperparameters;
    const lr = hyper.find((h) => h.name === 'lr');
    if (lr) card.append(...control(optimizer, lr));
    const others = hyper.filter((h) => h.name !== 'lr');
    if (others.length) {
      const details = element('details', {}, [element('summary', { textContent: 'more settings' })]);
      for (const h of others) details.append(...control(optimizer, h));
      card.append(details);
    }
    list.append(card);
  });
  renderSpecs();
}

/** Each card's spec line: exactly what is sent. */
function renderSpecs() {
  document.querySelectorAll('#optimizers .card code.spec').forEach((code, i) => {
    if (explorer.optimizers[i]) code.textContent = specOf(explorer.optimizers[i]);
  });
}

async function tuneOne(index) {
  const optimizer = explorer.optimizers[index];
  optimizer.note = 'tuning…';
  renderOptimizers();
  try {
    const answer = await (await api('/api/tune', raceBody([optimizer], false))).json();
    optimizer.values.lr = answer.runs[0].lr;
    optimizer.note = `tuned: lr = ${formatNumber(answer.runs[0].lr)} (final loss ${formatNumber(answer.runs[0].final_loss)})`;
  } catch (error) {
    optimizer.note = 'tuning failed: ' + error.message;
  }
  renderOptimizers();
  scheduleRace();
}

// ---------------------------------------------------------------------------------------------- drawing

function domain() {
  return explorer.surface ? explorer.surface.domain : { x: [-1, 1], y: [-1, 1] };
}

function toPixel(canvas, x, y) {
  const d = domain();
  return [(x - d.x[0]) / (d.x[1] - d.x[0]) * canvas.width, (d.y[1] - y) / (d.y[1] - d.y[0]) * canvas.height];
}

function fromPixel(canvas, px, py) {
  const d = domain();
  return [d.x[0] + px / canvas.width * (d.x[1] - d.x[0]), d.y[1] - py / canvas.height * (d.y[1] - d.y[0])];
}

function fitCanvas(canvas) {
  const ratio = window.devicePixelRatio || 1;
  const width = Math.round(canvas.clientWidth * ratio), height = Math.round(canvas.clientHeight * ratio);
  if (width > 0 && height > 0 && (canvas.width !== width || canvas.height !== height)) {
    canvas.width = width;
    canvas.height = height;
  }
}

function arrow(ctx, from, to, color, dashed) {
  const [x0, y0] = from, [x1, y1] = to;
  const angle = Math.atan2(y1 - y0, x1 - x0), head = 4 + ctx.lineWidth * 2;
  ctx.save();
  ctx.strokeStyle = color;
  ctx.fillStyle = color;
  ctx.setLineDash(dashed ? [5, 4] : []);
  ctx.beginPath(); ctx.moveTo(x0, y0); ctx.lineTo(x1, y1); ctx.stroke();
  ctx.setLineDash([]);
  ctx.beginPath();
  ctx.moveTo(x1, y1);
  ctx.lineTo(x1 - head * Math.cos(angle - 0.45), y1 - head * Math.sin(angle - 0.45));
  ctx.lineTo(x1 - head * Math.cos(angle + 0.45), y1 - head * Math.sin(angle + 0.45));
  ctx.fill();
  ctx.restore();
}

/** The state of a run at the step shown: what its last step used and left (none at step 0). */
function stateAt(run) {
  const step = Math.min(explorer.shown, run.points.length - 1);
  return step > 0 && run.states ? run.states[step - 1] : null;
}

/** The arrows of a state, as displacements in the plane: the step the gradient alone would take (−η·g) and the
 *  one the velocity stands for (−η·v, or v itself for the look-ahead form, which keeps a displacement). */
function arrows(run, state) {
  const lr = run.lrs[Math.min(explorer.shown, run.lrs.length) - 1] ?? run.hyperparameters.lr;
  const result = { gradient: state.gradient.map((g) => -lr * g) };
  if (state.velocity) {
    const sign = state.velocity.name === 'velocity' ? 1 : -lr;
    result.velocity = state.velocity.values.map((v) => sign * v);
  }
  return result;
}

function drawMap() {
  const canvas = $('map');
  fitCanvas(canvas);
  loadMap();
  const ctx = canvas.getContext('2d');
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (mapImage) ctx.drawImage(mapImage, 0, 0, canvas.width, canvas.height);
  const scale = canvas.width / 560;
  const palette = explorer.catalog.palette;
  // Paths: a white halo under each, the first optimizers widest, so that coinciding paths show as bands.
  const count = explorer.runs.length;
  const widthOf = (i) => (2 + 6 * (count - 1 - i) / Math.max(1, count - 1)) * scale;
  const pathOf = (run) => run.points.slice(0, explorer.shown + 1).filter((p) => p[0] !== null && p[1] !== null);
  for (const pass of ['halo', 'color']) {
    explorer.runs.forEach((run, i) => {
      const points = pathOf(run);
      ctx.beginPath();
      points.forEach(([x, y], k) => {
        const [px, py] = toPixel(canvas, x, y);
        if (k === 0) ctx.moveTo(px, py); else ctx.lineTo(px, py);
      });
      ctx.lineJoin = 'round';
      ctx.lineCap = 'round';
      ctx.lineWidth = widthOf(i) + (pass === 'halo' ? 3 * scale : 0);
      ctx.strokeStyle = pass === 'halo' ? 'rgba(255,255,255,0.8)' : palette[i % palette.length];
      ctx.stroke();
    });
  }
  // Critical points, marked as in the command's pictures: a star for the global minimum, a plus for local minima,
  // a ring for saddle points, a triangle for maxima; white, outlined in black.
  for (const c of explorer.surface ? explorer.surface.critical_points : []) {
    const [px, py] = toPixel(canvas, c.point[0], c.point[1]);
    const r = 7 * scale;
    ctx.save();
    ctx.lineWidth = 2 * scale;
    ctx.strokeStyle = '#000';
    ctx.fillStyle = '#fff';
    ctx.beginPath();
    if (c.kind === 'global minimum') {
      for (let k = 0; k < 10; k++) {
        const a = -Math.PI / 2 + k * Math.PI / 5, rr = k % 2 ? r * 0.5 : r * 1.3;
        ctx.lineTo(px + rr * Math.cos(a), py + rr * Math.sin(a));
      }
      ctx.closePath(); ctx.fill(); ctx.stroke();
    } else if (c.kind === 'local minimum') {
      const w = r * 0.35;
      const arms = [[-w, -r], [w, -r], [w, -w], [r, -w], [r, w], [w, w], [w, r], [-w, r], [-w, w], [-r, w], [-r, -w], [-w, -w]];
      for (const [dx, dy] of arms) ctx.lineTo(px + dx, py + dy);
      ctx.closePath(); ctx.fill(); ctx.stroke();
    } else if (c.kind === 'saddle') {
      ctx.arc(px, py, r, 0, 2 * Math.PI);
      ctx.lineWidth = 5 * scale; ctx.stroke();
      ctx.strokeStyle = '#fff'; ctx.lineWidth = 2.5 * scale; ctx.stroke();
    } else {
      ctx.moveTo(px, py - r); ctx.lineTo(px + r, py + r * 0.8); ctx.lineTo(px - r, py + r * 0.8);
      ctx.closePath(); ctx.fill(); ctx.stroke();
    }
    ctx.restore();
  }
  // Where each optimizer is at the step shown, and, when paused, what it holds there.
  explorer.runs.forEach((run, i) => {
    const points = pathOf(run);
    if (!points.length) return;
    const [x, y] = points[points.length - 1];
    const [px, py] = toPixel(canvas, x, y);
    const color = palette[i % palette.length];
    const state = explorer.playing ? null : stateAt(run);
    if (state) {
      const a = arrows(run, state);
      const length = (v) => Math.hypot(...v);
      const longest = Math.max(length(a.gradient), a.velocity ? length(a.velocity) : 0);
      const d = domain();
      const gain = longest > 0 ? 0.12 * (d.x[1] - d.x[0]) / longest : 0;
      ctx.lineWidth = 2 * scale;
      arrow(ctx, [px, py], toPixel(canvas, x + gain * a.gradient[0], y + gain * a.gradient[1]), color, true);
      if (a.velocity) {
        ctx.lineWidth = 3 * scale;
        arrow(ctx, [px, py], toPixel(canvas, x + gain * a.velocity[0], y + gain * a.velocity[1]), color, false);
      }
      if (state.step_size) {
        // The per-coordinate step as an ellipse: wide along the coordinates that get long steps.
        const largest = Math.max(...state.step_size);
        if (largest > 0) {
          const rx = 0.05 * canvas.width * state.step_size[0] / largest;
          const ry = 0.05 * canvas.height * state.step_size[1] / largest;
          ctx.save();
          ctx.strokeStyle = color;
          ctx.lineWidth = 2 * scale;
          ctx.beginPath();
          ctx.ellipse(px, py, Math.max(rx, 1), Math.max(ry, 1), 0, 0, 2 * Math.PI);
          ctx.stroke();
          ctx.restore();
        }
      }
    }
    ctx.beginPath();
    ctx.arc(px, py, 5 * scale, 0, 2 * Math.PI);
    ctx.fillStyle = color;
    ctx.strokeStyle = '#fff';
    ctx.lineWidth = 2 * scale;
    ctx.fill();
    ctx.stroke();
  });
  // The start: black on white.
  if (explorer.start) {
    const [px, py] = toPixel(canvas, explorer.start[0], explorer.start[1]);
    ctx.beginPath(); ctx.arc(px, py, 7 * scale, 0, 2 * Math.PI); ctx.fillStyle = '#fff'; ctx.fill();
    ctx.beginPath(); ctx.arc(px, py, 5 * scale, 0, 2 * Math.PI); ctx.fillStyle = '#000'; ctx.fill();
  }
}

/** A chart of one series per run against the step, in log scale, with a line at the step shown. */
function drawChart(canvasId, seriesOf, empty) {
  const canvas = $(canvasId);
  fitCanvas(canvas);
  const ctx = canvas.getContext('2d');
  const ratio = window.devicePixelRatio || 1;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const series = explorer.runs.map(seriesOf);
  const values = series.flat().filter((v) => v !== null && Number.isFinite(v) && v > 0);
  ctx.font = `${11 * ratio}px system-ui, sans-serif`;
  ctx.fillStyle = '#5b5b66';
  if (!values.length) {
    ctx.fillText(empty, 10 * ratio, 20 * ratio);
    return;
  }
  let lo = Math.floor(Math.log10(Math.min(...values))), hi = Math.ceil(Math.log10(Math.max(...values)));
  if (hi === lo) hi = lo + 1;
  const left = 44 * ratio, bottom = canvas.height - 18 * ratio, top = 6 * ratio, right = canvas.width - 6 * ratio;
  const steps = Math.max(1, explorer.steps);
  const px = (t) => left + (right - left) * t / steps;
  const py = (v) => bottom - (bottom - top) * (Math.log10(v) - lo) / (hi - lo);
  ctx.strokeStyle = '#e4e4ea';
  ctx.lineWidth = 1;
  const every = Math.ceil((hi - lo) / 5);
  for (let e = lo; e <= hi; e += every) {
    ctx.beginPath(); ctx.moveTo(left, py(10 ** e)); ctx.lineTo(right, py(10 ** e)); ctx.stroke();
    ctx.fillText(`1e${e}`, 4 * ratio, py(10 ** e) + 4 * ratio);
  }
  ctx.fillText('0', left, canvas.height - 4 * ratio);
  ctx.fillText(String(steps), right - ctx.measureText(String(steps)).width, canvas.height - 4 * ratio);
  ctx.fillText('step', (left + right) / 2, canvas.height - 4 * ratio);
  const palette = explorer.catalog.palette;
  series.forEach((s, i) => {
    ctx.beginPath();
    let drawing = false;
    s.forEach((v, t) => {
      if (v === null || !Number.isFinite(v) || v <= 0) { drawing = false; return; }
      const y = Math.max(top, Math.min(bottom, py(v)));
      if (drawing) ctx.lineTo(px(t), y); else ctx.moveTo(px(t), y);
      drawing = true;
    });
    ctx.strokeStyle = palette[i % palette.length];
    ctx.lineWidth = 2 * ratio;
    ctx.stroke();
  });
  ctx.strokeStyle = '#1b1b1f';
  ctx.lineWidth = 1 * ratio;
  ctx.beginPath(); ctx.moveTo(px(explorer.shown), top); ctx.lineTo(px(explorer.shown), bottom); ctx.stroke();
}

function drawCharts() {
  // log(J − floor): the floor is the known global minimum's value, or the lowest loss of any run.
  const known = explorer.surface ? explorer.surface.critical_points.filter((c) => c.kind === 'global minimum') : [];
  const losses = explorer.runs.flatMap((r) => r.points.map((p) => p[2])).filter((v) => v !== null && Number.isFinite(v));
  let floor = known.length ? known[0].value : Math.min(0, ...losses);
  if (losses.length && Math.min(...losses) < floor) floor = Math.min(...losses);
  const spread = losses.length ? Math.max(...losses) - floor : 1;
  const offset = spread > 0 ? spread * 1e-12 : 1e-12;
  $('loss-caption').textContent = floor === 0 ? 'Loss J, log scale' : `J − (${formatNumber(floor)}), log scale`;
  drawChart('loss-chart', (r) => r.points.map((p) => (p[2] === null ? null : p[2] - floor + offset)), 'no finite loss');
  drawChart('distance-chart', (r) => r.distances || [], 'this surface has no known minimum');
}

function cell(text, numeric) {
  return element('td', { textContent: text, className: numeric ? 'num' : '' });
}

const vector = (v) => (v ? '(' + v.map((x) => formatNumber(x)).join(', ') + ')' : '–');

function drawStatePanel() {
  const panel = $('state-panel');
  if (explorer.playing || !explorer.runs.length) { panel.replaceChildren(); return; }
  const head = element('tr', {}, ['optimizer', 'point', 'J', 'gradient g', 'velocity', 'step size η per coordinate']
    .map((t) => element('th', { textContent: t })));
  const rows = explorer.runs.map((run, i) => {
    const point = run.points[Math.min(explorer.shown, run.points.length - 1)];
    const state = stateAt(run);
    const swatch = element('span', { className: 'swatch' });
    const color = explorer.catalog.palette[i % explorer.catalog.palette.length];
    const row = element('tr', {}, [
      element('td', {}, [swatch, run.optimizer]),
      cell(vector(point.slice(0, 2)), true),
      cell(point[2] === null ? '–' : formatNumber(point[2]), true),
      cell(state ? vector(state.gradient) : '–', true),
      cell(state && state.velocity ? `${state.velocity.name} ${vector(state.velocity.values)}` : '–', true),
      cell(state && state.step_size ? vector(state.step_size) : '–', true),
    ]);
    row.style.setProperty('--color', color);
    return row;
  });
  const note = explorer.runs.some((r) => r.states)
    ? 'On the map: dashed, the step the gradient alone would take (−η·g); solid, the step of the velocity; '
      + 'the ellipse, the step size of each coordinate (wide where x gets the longer steps). Arrows are scaled to be seen.'
    : 'Too many steps to keep every state: fewer steps or optimizers show it.';
  panel.replaceChildren(element('table', {}, [element('thead', {}, [head]), element('tbody', {}, rows)]),
    element('p', { textContent: note }));
}

function draw() {
  if (!explorer.catalog) return;
  drawMap();
  drawCharts();
  drawStatePanel();
  $('start-label').textContent = explorer.start ? vector(explorer.start) : '';
}

// --------------------------------------------------------------------------------------------- the player

function updatePlayer() {
  const scrub = $('scrub');
  scrub.max = explorer.steps;
  scrub.value = explorer.shown;
  $('step-label').textContent = `step ${explorer.shown} of ${explorer.steps}`;
  $('play').textContent = explorer.playing ? 'Pause' : 'Play';
}

let lastFrame = 0;

function frame(time) {
  if (!explorer.playing) return;
  const speed = Number($('speed').value);
  const advance = Math.floor((time - lastFrame) * speed / 1000);
  if (advance > 0) {
    explorer.shown = Math.min(explorer.steps, explorer.shown + advance);
    lastFrame = time;
    if (explorer.shown >= explorer.steps) explorer.playing = false;
    updatePlayer();
    draw();
  }
  if (explorer.playing) requestAnimationFrame(frame);
}

function setPlaying(playing) {
  explorer.playing = playing;
  if (playing) {
    if (explorer.shown >= explorer.steps) explorer.shown = 0;
    lastFrame = performance.now();
    requestAnimationFrame(frame);
  }
  updatePlayer();
  draw();
}

function stepBy(delta) {
  explorer.playing = false;
  explorer.shown = Math.max(0, Math.min(explorer.steps, explorer.shown + delta));
  updatePlayer();
  draw();
}

// ------------------------------------------------------------------------------------------------ sharing

async function download(format) {
  try {
    const blob = await (await api('/api/picture?format=' + format, raceBody(explorer.optimizers, false))).blob();
    const link = element('a', { href: URL.createObjectURL(blob), download: `race.${format}` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
  } catch (error) {
    showError('run-error', error.message);
  }
}

async function copy(text, what) {
  try {
    await navigator.clipboard.writeText(text);
    $('copied').textContent = `${what} copied`;
  } catch (_) {
    $('copied').textContent = `select and copy the ${what.toLowerCase()} by hand`;
  }
}

// --------------------------------------------------------------------------------------------------- start

function moveStart(start) {
  explorer.start = start.map((v) => Number(v.toPrecision(4)));
  scheduleRace();
  draw();
}

function bind() {
  $('surface').addEventListener('change', async () => {
    if (!$('surface').value) return;
    $('expression').value = '';
    showError('expression-error', null);
    await loadSurface($('surface').value, false);
    scheduleRace();
  });
  $('expression').addEventListener('input', onExpressionInput);
  const map = $('map');
  map.addEventListener('click', (event) => {
    const rect = map.getBoundingClientRect();
    const px = (event.clientX - rect.left) / rect.width * map.width;
    const py = (event.clientY - rect.top) / rect.height * map.height;
    moveStart(fromPixel(map, px, py));
  });
  map.addEventListener('keydown', (event) => {
    const moves = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, 1], ArrowDown: [0, -1] };
    const move = moves[event.key];
    if (!move || !explorer.start) return;
    event.preventDefault();
    const d = domain(), fraction = event.shiftKey ? 0.1 : 0.02;
    moveStart([explorer.start[0] + move[0] * fraction * (d.x[1] - d.x[0]),
      explorer.start[1] + move[1] * fraction * (d.y[1] - d.y[0])]);
  });
  $('play').addEventListener('click', () => setPlaying(!explorer.playing));
  $('back').addEventListener('click', () => stepBy(-1));
  $('forward').addEventListener('click', () => stepBy(1));
  $('scrub').addEventListener('input', () => {
    explorer.playing = false;
    explorer.shown = Number($('scrub').value);
    updatePlayer();
    draw();
  });
  document.addEventListener('keydown', (event) => {
    const target = event.target;
    if (target.matches('input, select, textarea, button') || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === ' ') { event.preventDefault(); setPlaying(!explorer.playing); }
    if (event.key === '.') stepBy(1);
    if (event.key === ',') stepBy(-1);
  });
  // A field left empty or invalid goes back to its value.
  const number = (id, key, min, integer) => $(id).addEventListener('change', () => {
    const text = $(id).value.trim();
    let v = Number(text);
    if (text === '' || !Number.isFinite(v)) v = explorer[key];
    v = Math.max(min, integer ? Math.round(v) : v);
    $(id).value = v;
    if (v === explorer[key]) return;
    explorer[key] = v;
    scheduleRace();
  });
  number('steps', 'steps', 1, true);
  number('noise', 'noise', 0, false);
  number('seed', 'seed', 0, true);
  $('schedule').addEventListener('change', () => { explorer.schedule = $('schedule').value; scheduleRace(); });
  $('add').addEventListener('click', () => {
    explorer.optimizers.push(newOptimizer($('add-kind').value));
    renderOptimizers();
    scheduleRace();
  });
  $('copy-link').addEventListener('click', () => copy(location.href, 'Link'));
  $('copy-command').addEventListener('click', () => copy(explorer.command, 'Command'));
  $('download-svg').addEventListener('click', () => download('svg'));
  $('download-png').addEventListener('click', () => download('png'));
  window.addEventListener('resize', draw);
}

async function main() {
  explorer.catalog = await (await api('/api/catalog')).json();
  const surfaces = $('surface');
  surfaces.append(element('option', { value: '', textContent: '(your expression)' }));
  for (const s of explorer.catalog.surfaces) {
    surfaces.append(element('option', { value: s.name, textContent: s.name, title: s.summary }));
  }
  for (const o of explorer.catalog.optimizers) {
    $('add-kind').append(element('option', { value: o.name, textContent: o.name, title: o.summary }));
  }
  readUrl();
  const start = explorer.start;
  try {
    await loadSurface(explorer.fn, true);
  } catch (error) {
    showError('expression-error', error.message);
    await loadSurface('himmelblau', false);
  }
  if (start) explorer.start = start;
  $('steps').value = explorer.steps;
  $('noise').value = explorer.noise;
  $('seed').value = explorer.seed;
  $('schedule').value = explorer.schedule;
  explorer.shown = explorer.steps;
  bind();
  renderOptimizers();
  updatePlayer();
  draw();
  scheduleRace();
}

main().catch((error) => showError('run-error', 'The explorer could not start: ' + error.message));
