// Chart panels on uPlot, shared by the run page and the compare page.
//
// A ChartBoard holds panels; a panel draws named series (metric keys on the run page, runs on
// the compare page), each with its own steps, joined on step. The board's controls apply to
// every panel: EMA smoothing, log scale, reset zoom. Cursors are synchronised across panels.
// A zoom (drag over a panel) survives live points: a new point is added to the data and the
// user's x range is put back in the same redraw; double-click or "Reset zoom" undoes it.
// A click (not a drag) picks a step (the board's onPick); a marked step and alert markers
// are drawn as lines over the plots.
import uPlot from "../vendor/uplot/uPlot.esm.js";

const COLOURS = ["#c0392b", "#2456a6", "#2e7d32", "#8e44ad", "#d35400", "#16a085", "#7f8c8d",
  "#b7950b", "#c2185b", "#34495e"];
const HEIGHT = 220;

// The trainer's key groups, in the order the panels are shown. A key joins the first group
// whose test it passes; keys in no group get a panel per namespace ("charts/…", "time/…").
// A federated run's per-client keys (clients/<id>/<name>) come first: one panel per metric,
// a series per client, so 8 clients' 40 keys make four panels rather than 40 lines elsewhere.
export const GROUPS = [
  { id: "clients-accuracy", title: "Clients: eval accuracy, and the averaged model's",
    test: (k) => /^clients\/\d+\/eval_accuracy$/.test(k) },
  { id: "clients-eval-loss", title: "Clients: eval loss",
    test: (k) => /^clients\/\d+\/eval_loss$/.test(k) },
  { id: "clients-fit-loss", title: "Clients: fit loss",
    test: (k) => /^clients\/\d+\/fit_loss$/.test(k) },
  { id: "clients-samples", title: "Clients: samples",
    test: (k) => /^clients\/\d+\/\w+_samples$/.test(k) },
  { id: "losses", title: "Losses",
    test: (k) => k.startsWith("losses/") && /loss$/.test(k) },
  { id: "entropy-kl", title: "Entropy and KL",
    test: (k) => /^losses\/(entropy|approx_kl|old_approx_kl|clip_fraction)$/.test(k) },
  { id: "win-rates", title: "Win rates",
    test: (k) => /win_rate|draw_rate|accuracy/.test(k) },
  { id: "game-length", title: "Game length",
    test: (k) => /game_length|plies|truncation_rate/.test(k) },
  { id: "throughput", title: "Throughput",
    test: (k) => k.startsWith("time/") || /_per_s$/.test(k) },
  { id: "learning-rate", title: "Learning rate",
    test: (k) => /learning_rate$|\/lr$/.test(k) },
];

// Panels for these keys, by GROUPS and then by namespace: the same keys always give the same
// panels, whether they came with the page or arrived live.
// The aggregate drawn beside the clients' accuracies, on their panel.
const BESIDE = { "clients-accuracy": "charts/val_accuracy" };

// Keys in order, client numbers as numbers (clients/2 before clients/10).
const keyOrder = (k) => k.replace(/^clients\/(\d+)\//, (_, n) => `clients/${n.padStart(6, "0")}/`);
const byKeyOrder = (a, b) => (keyOrder(a) < keyOrder(b) ? -1 : keyOrder(a) > keyOrder(b) ? 1 : 0);

export function groupKeys(keys) {
  const panels = new Map();
  const all = new Set(keys);
  for (const key of [...all].sort(byKeyOrder)) {
    const group = GROUPS.find((g) => g.test(key));
    const ns = key.includes("/") ? key.slice(0, key.indexOf("/")) : "other";
    const id = group ? group.id : `ns-${ns}`;
    if (!panels.has(id)) {
      panels.set(id, { id, title: group ? group.title : `Other ${ns}/`, keys: [],
        order: group ? GROUPS.indexOf(group) : GROUPS.length });
    }
    panels.get(id).keys.push(key);
  }
  for (const [id, key] of Object.entries(BESIDE)) {
    if (panels.has(id) && all.has(key)) panels.get(id).keys.push(key);  // also in its own group
  }
  return [...panels.values()].sort((a, b) => a.order - b.order || a.id.localeCompare(b.id));
}

// A legend value: at most 4 significant digits, ASCII minus sign, exponent when far from 1.
export function formatTick(v) {
  if (v == null || !Number.isFinite(v)) return "";
  if (v === 0) return "0";
  const abs = Math.abs(v);
  if (abs >= 1e6 || abs < 1e-3) return v.toExponential(1).replace("e+", "e");
  return String(Number(v.toPrecision(4)));
}

// An axis label: as many decimals as the tick spacing has (0.25 -> "0.75", 0.0001 ->
// "0.0005"), grouped thousands, an ASCII minus; exponent notation for very large or small.
export function formatAxis(v, incr) {
  if (v == null || !Number.isFinite(v)) return "";
  const step = Number(Math.abs(incr || 0).toPrecision(6));
  if (Math.abs(v) >= 1e9 || String(step).includes("e")) return v.toExponential(2).replace("e+", "e");
  const decimals = Math.min(12, (String(step).split(".")[1] || "").length);
  return v.toLocaleString("en-US", { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
}

const axisValues = (u, splits, axisIdx, space, incr) => splits.map((v) => formatAxis(v, incr));

// The y axis is as wide as its widest label (uPlot's default is a fixed 50 px, which cut the
// minus sign off "-0.0005"). Measured in the axis's own font; never below the floor the draw
// hook sets when the labels came out wider than the layout uPlot settled on (see fitYAxis).
function axisSize(u, values, axisIdx) {
  return Math.max(labelsWidth(u, axisIdx, values), u.keiseiAxisFloor || 0);
}

function labelsWidth(u, axisIdx, values) {
  const axis = u.axes[axisIdx];
  const labels = (values ?? []).map(String);
  let width = 0;
  if (labels.length) {
    u.ctx.font = axis.font[0];
    width = Math.max(...labels.map((v) => u.ctx.measureText(v).width)) / devicePixelRatio;
  }
  return Math.ceil(width + axis.ticks.size + axis.gap) + 2;
}

// uPlot sizes the axes in at most three cycles; labels that change in the last one (the plot's
// height moved the ticks) can be wider than the space laid out. Then lay it out again with
// that width as the floor (it only grows, so this settles).
function fitYAxis(u) {
  const needed = labelsWidth(u, 1, u.axes[1]._values);
  if (needed > Math.round(u.bbox.left / devicePixelRatio) && needed > (u.keiseiAxisFloor || 0)) {
    u.keiseiAxisFloor = needed;
    // uPlot lays out again only when an axis size changes: forget the stale one
    queueMicrotask(() => { u.axes[1]._size = 0; u.redraw(false, true); });
  }
}

// Exponential moving average, debiased as TensorBoard's is; nulls stay nulls.
export function ema(values, alpha) {
  if (!alpha) return values;
  const out = new Array(values.length);
  let last = 0;
  let weight = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v == null || !Number.isFinite(v)) { out[i] = null; continue; }
    last = last * alpha + (1 - alpha) * v;
    weight = weight * alpha + (1 - alpha);
    out[i] = last / weight;
  }
  return out;
}

export class ChartPanel {
  constructor(board, { id, title, series }) {
    this.board = board;
    this.id = id;
    this.series = new Map();  // label -> { step: [], value: [] }
    for (const name of series) this.series.set(name, { step: [], value: [] });
    this.zoom = null;          // the user's x range {min, max}, or null: follow the data
    this.plot = null;
    this.el = document.createElement("section");
    this.el.className = "chart-panel";
    this.el.dataset.panel = id;
    const head = document.createElement("h3");
    head.textContent = title;
    this.body = document.createElement("div");
    this.body.className = "chart-plot";
    this.el.append(head, this.body);
  }

  has(name) { return this.series.has(name); }

  addSeries(name) {
    if (this.series.has(name)) return;
    this.series.set(name, { step: [], value: [] });
    this.rebuild();
  }

  // Put the series in this order (names not listed keep theirs, after), as a reload would.
  order(names) {
    const current = [...this.series.keys()];
    const wanted = [...names.filter((n) => this.series.has(n)),
      ...current.filter((n) => !names.includes(n))];
    if (wanted.every((n, i) => n === current[i])) return;
    this.series = new Map(wanted.map((n) => [n, this.series.get(n)]));
    this.rebuild();
  }

  // Replace one series' history; live points already received past its end are kept.
  setHistory(name, step, value) {
    const old = this.series.get(name) || { step: [], value: [] };
    const end = step.length ? step[step.length - 1] : -Infinity;
    const later = old.step.map((s, i) => [s, old.value[i]]).filter(([s]) => s > end);
    this.series.set(name, {
      step: [...step, ...later.map(([s]) => s)], value: [...value, ...later.map(([, v]) => v)],
    });
  }

  // One live point; a step at or before the series' last is a replay and is ignored.
  append(name, step, value) {
    const s = this.series.get(name);
    if (!s) return false;
    if (s.step.length && step <= s.step[s.step.length - 1]) return false;
    s.step.push(step);
    s.value.push(value);
    return true;
  }

  data() {
    const names = [...this.series.keys()];
    if (!names.length) return [[]];
    const log = this.board.log;
    const joined = uPlot.join(names.map((n) => {
      const s = this.series.get(n);
      let ys = ema(s.value, this.board.smoothing);
      if (log) ys = ys.map((v) => (v != null && v > 0 ? v : null));
      return [s.step, ys];
    }));
    return joined;
  }

  options() {
    const names = [...this.series.keys()];
    const board = this.board;
    return {
      width: this.body.clientWidth || 320,
      height: HEIGHT,
      scales: { x: { time: false }, y: board.log ? { distr: 3 } : {} },
      series: [{ label: "step" }, ...names.map((n, i) => ({
        label: board.label(n), stroke: COLOURS[i % COLOURS.length], width: 2, spanGaps: true,
        value: (u, v) => formatTick(v),
      }))],
      axes: [
        { stroke: "currentColor", grid: { stroke: "rgba(128,128,128,.2)" }, ticks: { stroke: "rgba(128,128,128,.3)" },
          values: axisValues },
        { stroke: "currentColor", grid: { stroke: "rgba(128,128,128,.2)" }, ticks: { stroke: "rgba(128,128,128,.3)" },
          size: axisSize, values: axisValues },
      ],
      cursor: {
        sync: { key: board.syncKey, setSeries: false },
        // double-click is our reset (uPlot's own would look like a user zoom to the whole data)
        bind: { dblclick: () => () => null },
      },
      hooks: {
        draw: [fitYAxis, (u) => this.placeMarks(u)],
        // a drag that selects a range is the user's zoom; it is kept until reset
        setSelect: [(u) => {
          if (u.select.width > 0) {
            const min = u.posToVal(u.select.left, "x");
            const max = u.posToVal(u.select.left + u.select.width, "x");
            this.zoom = { min, max };
            this.el.classList.add("zoomed");
          }
        }],
      },
    };
  }

  rebuild() {
    if (!this.body.isConnected) return;
    if (this.plot) { this.plot.destroy(); this.plot = null; }
    this.body.textContent = "";
    this.plot = new uPlot(this.options(), this.data(), this.body);
    this.plot.over.addEventListener("dblclick", () => this.resetZoom());
    this.listenForPicks(this.plot);
    if (this.zoom) this.plot.setScale("x", this.zoom);
  }

  // A click that is not the end of a drag (a zoom) picks the step under the cursor: the
  // board's onPick (the run page opens the stored game nearest that step).
  listenForPicks(u) {
    let down = null;
    u.over.addEventListener("mousedown", (e) => { down = [e.clientX, e.clientY]; });
    u.over.addEventListener("click", (e) => {
      const moved = down ? Math.hypot(e.clientX - down[0], e.clientY - down[1]) : 0;
      down = null;
      if (moved > 4 || !this.board.onPick || u.cursor.idx == null) return;
      const step = u.data[0][u.cursor.idx];
      if (step != null) this.board.onPick(step, this);
    });
  }

  // The board's marked step (a game's step, from the replay viewer's link back) and the
  // alerts fired on this panel's series, as lines over the plot: DOM elements, not canvas
  // strokes, so they carry their label (a tooltip, and for assistive technology).
  placeMarks(u) {
    u.over.querySelectorAll(".chart-mark").forEach((el) => el.remove());
    const { min, max } = u.scales.x;
    if (min == null || max == null) return;
    const marks = [];
    const marked = this.board.markStep;
    if (marked != null) marks.push({ step: marked, kind: "step", label: `step ${marked}` });
    for (const name of this.series.keys()) {
      for (const alert of this.board.markers.get(name) || []) marks.push({ ...alert, kind: "alert" });
    }
    for (const mark of marks) {
      if (mark.step < min || mark.step > max) continue;
      const el = document.createElement("div");
      el.className = `chart-mark chart-mark-${mark.kind}`;
      el.style.left = `${u.valToPos(mark.step, "x")}px`;
      el.dataset.step = String(mark.step);
      el.title = mark.label;
      el.setAttribute("role", "img");
      el.setAttribute("aria-label", mark.label);
      u.over.append(el);
    }
  }

  // New data drawn; with a zoom, the user's x range is put back in the same commit.
  redraw() {
    if (!this.plot) { this.rebuild(); return; }
    const data = this.data();
    if (this.plot.series.length !== data.length) { this.rebuild(); return; }
    this.plot.batch(() => {
      this.plot.setData(data);
      if (this.zoom) this.plot.setScale("x", this.zoom);
    });
  }

  resetZoom() {
    this.zoom = null;
    this.el.classList.remove("zoomed");
    this.plot?.setData(this.data());
  }

  resize() { this.plot?.setSize({ width: this.body.clientWidth, height: HEIGHT }); }

  destroy() { this.plot?.destroy(); this.el.remove(); }
}

// The panels of one page and the controls that apply to all of them (elements found inside
// `controls`: input.chart-smoothing, input.chart-log, button.chart-reset).
export class ChartBoard {
  constructor(root, controls, { label = (n) => n } = {}) {
    this.root = root;
    this.panels = new Map();
    this.smoothing = 0;
    this.log = false;
    this.label = label;
    this.syncKey = `keisei-${Math.random().toString(36).slice(2)}`;
    this.frame = null;
    this.dirty = new Set();
    this.onPick = null;       // (step, panel) => …: a click on a plot (not a drag)
    this.markStep = null;     // a step drawn as a line on every panel
    this.markers = new Map(); // series name -> [{ step, label }]: alerts fired on it
    const smoothing = controls?.querySelector(".chart-smoothing");
    const out = controls?.querySelector(".chart-smoothing-value");
    smoothing?.addEventListener("input", () => {
      this.smoothing = Number(smoothing.value);
      if (out) out.textContent = this.smoothing.toFixed(2);
      this.panels.forEach((p) => p.redraw());
    });
    controls?.querySelector(".chart-log")?.addEventListener("change", (e) => {
      this.log = e.target.checked;
      this.panels.forEach((p) => p.rebuild());
    });
    controls?.querySelector(".chart-reset")?.addEventListener("click", () => {
      this.panels.forEach((p) => p.resetZoom());
    });
    let width = root.clientWidth;
    new ResizeObserver(() => {
      if (root.clientWidth === width) return;
      width = root.clientWidth;
      this.panels.forEach((p) => p.resize());
    }).observe(root);
  }

  // The panel `id`, made (in `parent`, by default the board's root) if it is not there yet.
  panel(id, title, series, parent = this.root) {
    let panel = this.panels.get(id);
    if (!panel) {
      panel = new ChartPanel(this, { id, title, series });
      this.panels.set(id, panel);
      parent.append(panel.el);
      panel.rebuild();
    }
    return panel;
  }

  remove(id) { this.panels.get(id)?.destroy(); this.panels.delete(id); }

  // Draw a line at `step` on every panel (null: none).
  mark(step) {
    this.markStep = step;
    this.panels.forEach((p) => p.plot?.redraw(false));
  }

  // An alert fired on series `name` at `step`: a marker on the panels that draw it (once).
  addMarker(name, step, label) {
    const list = this.markers.get(name) || [];
    if (list.some((m) => m.step === step && m.label === label)) return;
    list.push({ step, label });
    this.markers.set(name, list);
    this.panels.forEach((p) => { if (p.has(name)) p.plot?.redraw(false); });
  }

  // Redraw the touched panels once per animation frame, however many points arrived.
  touched(panel) {
    this.dirty.add(panel);
    if (this.frame !== null) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = null;
      const dirty = [...this.dirty];
      this.dirty.clear();
      // The main-thread time of a live update, for a PerformanceObserver (bench/pages.py):
      // a "keisei:chart-update" measure, ended in a microtask after the redraws uPlot queues,
      // then cleared so a page left open for days keeps no growing list.
      performance.mark("keisei:chart-update-start");
      dirty.forEach((p) => p.redraw());
      queueMicrotask(() => {
        performance.measure("keisei:chart-update", "keisei:chart-update-start");
        performance.clearMarks("keisei:chart-update-start");
        performance.clearMeasures("keisei:chart-update");
      });
    });
  }
}

// A run's downsampled history for these keys (at most 20 per request, as the API takes).
export async function fetchRunHistory(runId, keys, maxPoints = 1000) {
  const series = {};
  for (let i = 0; i < keys.length; i += 20) {
    const chunk = keys.slice(i, i + 20).map(encodeURIComponent).join(",");
    const response = await fetch(`/api/v1/runs/${runId}/metrics/?keys=${chunk}&max_points=${maxPoints}`,
      { credentials: "same-origin" });
    if (!response.ok) throw new Error(`metrics: ${response.status}`);
    Object.assign(series, (await response.json()).series);
  }
  return series;
}
