// The run page: status, progress, latest metrics, chart panels, the timeline and the commands,
// over the run's WebSocket. The page is complete without JavaScript; this keeps it current.
import { LiveSocket } from "./live_socket.js";
import { LiveBoard } from "./board.js";
import { fragmentRefresher } from "./fragment.js";
import { ChartBoard, fetchRunHistory, groupKeys } from "./charts.js";
import { confirmStep, sendForm } from "./commands.js";
import { FederatedPanel } from "./federated_panel.js";
import { RunSummary } from "./run_summary.js";

const snapshot = JSON.parse(document.getElementById("run-snapshot").textContent);
const $ = (id) => document.getElementById(id);
const FINISHED = new Set(["completed", "failed", "stopped", "cancelled"]);

let status = snapshot.status;
let board = null;
// Each returns at once when its part is not on the page (a centralized run has no clients).
const federation = new FederatedPanel($("clients-panel"));
const summary = new RunSummary($("run-summary"));

function showBoard(position) {
  if (!position) return;
  board = board || new LiveBoard($("live-board"));
  board.show(position);
}

// ----- charts ---------------------------------------------------------------------------------

// A client's series is named for its client in the legend ("client 3"; "client 3 fit" and
// "client 3 eval" on the samples panel, which holds both); other keys as they are.
const CLIENT_KEY = /^clients\/(\d+)\/(.+)$/;
const seriesLabel = (key) => {
  const m = CLIENT_KEY.exec(key);
  if (!m) return key;
  return m[2].endsWith("_samples") ? `client ${m[1]} ${m[2].slice(0, -8)}` : `client ${m[1]}`;
};
const charts = new ChartBoard($("chart-panels"), $("charts"), { label: seriesLabel });
window.keiseiCharts = charts;  // for the browser tests and the curious

// A click on a chart opens the stored game nearest that step (once the run has stored one);
// the replay viewer links back here with ?step=, which is marked on every chart.
let hasGames = Boolean(snapshot.has_games);
const STORES_A_GAME = new Set(["sample", "evaluation"]);
function pickable() {
  charts.onPick = hasGames
    ? (step) => { location.assign(`/runs/${snapshot.id}/games/nearest/?step=${Math.round(step)}`); }
    : null;
  $("chart-panels").classList.toggle("pickable", hasGames);
  $("chart").classList.toggle("pickable", hasGames);
}
const markedStep = new URLSearchParams(location.search).get("step");
if (/^\d+$/.test(markedStep || "")) charts.mark(Number(markedStep));
// Alerts fired on a metric: a marker on the chart of that key (the stored ones came with the
// page; new ones arrive over the socket as "alert" events).
function addAlert(data, message) {
  if (data && typeof data.key === "string" && Number.isFinite(Number(data.step))) {
    charts.addMarker(data.key, Number(data.step), message || `alert ${data.rule ?? ""}`.trim());
  }
}
for (const alert of snapshot.alerts || []) addAlert(alert, alert.message);
const keys = new Set(snapshot.keys);
const EXTRA = `keisei.chart-panels.${snapshot.trainer}`;
const extraKeys = new Set(JSON.parse(localStorage.getItem(EXTRA) || "[]"));
let chartKey = "";          // the key in the single chart (#chart), chosen by the picker

// The single chart's default: the first key of the first panel, for the same keys always
// (a federated run's clients have panels of their own: the default is the run's own metric).
function defaultKey() {
  const groups = groupKeys([...keys]);
  return (groups.find((g) => !g.id.startsWith("clients-")) || groups[0])?.keys[0] || "";
}

// The metric picker keeps a federated run's per-client keys in one group per metric
// ("clients: eval_accuracy", its options "client 0", ...), after the run's own keys, so 8
// clients' 40 keys do not bury the others.
function addPickerOption(picker, key) {
  const m = CLIENT_KEY.exec(key);
  if (!m) {
    const firstGroup = picker.querySelector("optgroup");
    picker.insertBefore(new Option(key, key), firstGroup);
    return;
  }
  const label = `clients: ${m[2]}`;
  let group = [...picker.querySelectorAll("optgroup")].find((g) => g.label === label);
  if (!group) {
    group = document.createElement("optgroup");
    group.label = label;
    const after = [...picker.querySelectorAll("optgroup")].find((g) => g.label > label);
    picker.insertBefore(group, after || null);
  }
  const option = new Option(`client ${m[1]}`, key);
  const later = [...group.children].find((o) => Number(CLIENT_KEY.exec(o.value)[1]) > Number(m[1]));
  group.insertBefore(option, later || null);
}

function groupPickerOptions(picker) {
  const clientOptions = [...picker.options].filter((o) => CLIENT_KEY.test(o.value));
  clientOptions.forEach((o) => o.remove());
  clientOptions.forEach((o) => addPickerOption(picker, o.value));
}

function layoutPanels() {
  const root = $("chart-panels");
  for (const group of groupKeys([...keys])) {
    const panel = charts.panel(group.id, group.title, group.keys);
    group.keys.forEach((k) => panel.addSeries(k));
    // clients arrive in any order; their legend stays in client order
    if (group.id.startsWith("clients-")) panel.order(group.keys);
    root.append(panel.el);  // keeps the groups' order as keys arrive
  }
  for (const key of extraKeys) {
    if (!keys.has(key)) continue;
    const panel = charts.panel(`key:${key}`, key, [key]);
    if (!panel.el.querySelector(".chart-remove")) {
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "link chart-remove";
      remove.textContent = "remove";
      remove.setAttribute("aria-label", `remove the panel of ${key}`);
      remove.addEventListener("click", () => {
        extraKeys.delete(key);
        localStorage.setItem(EXTRA, JSON.stringify([...extraKeys]));
        charts.remove(`key:${key}`);
      });
      panel.el.querySelector("h3").append(" ", remove);
    }
    root.append(panel.el);
  }
}

function singlePanel() {
  if (!chartKey) return null;
  const id = "single";
  let panel = charts.panels.get(id);
  if (panel && !panel.has(chartKey)) { charts.remove(id); panel = null; }
  if (!panel) {
    $("chart").textContent = "";
    panel = charts.panel(id, chartKey, [chartKey], $("chart"));
  }
  return panel;
}

async function loadHistory(wanted) {
  if (!wanted.length) return;
  let series;
  try {
    series = await fetchRunHistory(snapshot.id, wanted, 1000);
  } catch {
    return;  // the live points still draw; a reload tries again
  }
  for (const panel of charts.panels.values()) {
    for (const key of panel.series.keys()) {
      const s = series[key];
      if (s) panel.setHistory(key, s.step, s.value);
    }
    panel.redraw();
  }
}

function chooseChartKey(key) {
  chartKey = key;
  const panel = singlePanel();
  const other = [...charts.panels.values()].find((p) => p !== panel && p.has(key));
  if (other) {  // already fetched for a group panel
    const s = other.series.get(key);
    panel.setHistory(key, s.step.slice(), s.value.slice());
    panel.redraw();
  } else {
    loadHistory([key]);
  }
}

function addExtraPanel() {
  const key = $("chart-key").value;
  if (!key || extraKeys.has(key)) return;
  extraKeys.add(key);
  localStorage.setItem(EXTRA, JSON.stringify([...extraKeys]));
  layoutPanels();
  const panel = charts.panels.get(`key:${key}`);
  const source = [...charts.panels.values()].find(
    (p) => p !== panel && p.has(key) && p.series.get(key).step.length);
  if (!source) { loadHistory([key]); return; }
  const s = source.series.get(key);
  panel.setHistory(key, s.step.slice(), s.value.slice());
  panel.redraw();
}

function setMetrics(step, values) {
  for (const [key, value] of Object.entries(values)) {
    // A federated run's per-client keys go to their own folded table.
    const perClient = key.startsWith("clients/");
    const table = $(perClient ? "latest-client-metrics" : "latest-metrics");
    if (perClient) $("client-metrics").hidden = false;
    let row = table.querySelector(`tr[data-key="${CSS.escape(key)}"]`);
    if (!row) {
      row = table.insertRow();
      row.dataset.key = key;
      row.append(document.createElement("th"), document.createElement("td"));
      row.firstChild.textContent = key;
    }
    row.lastChild.textContent = Number(value).toFixed(4);
  }
  const picker = $("chart-key");
  let added = false;
  for (const key of Object.keys(values)) {
    if (!keys.has(key)) { keys.add(key); added = true; }
    if (![...picker.options].some((o) => o.value === key)) addPickerOption(picker, key);
  }
  if (added) layoutPanels();
  if (!chartKey) {
    chartKey = defaultKey();
    picker.value = chartKey;
    singlePanel();
  }
  for (const panel of charts.panels.values()) {
    let changed = false;
    for (const [key, value] of Object.entries(values)) changed = panel.append(key, step, value) || changed;
    if (changed) charts.touched(panel);
  }
}

// ----- status, progress, connection -----------------------------------------------------------

function setStatus(next) {
  status = next;
  if (status !== "queued") {
    $("queue-position")?.remove();
    $("waiting-for")?.remove();
  }
  const badge = $("run-status");
  badge.textContent = status;
  badge.className = `status status-${status}`;
  document.querySelectorAll("[data-when]").forEach((b) => {
    b.hidden = !b.dataset.when.split(" ").includes(status);
  });
  showConnection(connection);
}

function setProgress({ step, total, progress }) {
  $("run-progress").value = progress;
  $("run-step").textContent = total ? `step ${step} / ${total}` : `step ${step}`;
}

// What the indicator says: live (connected), reconnecting…, offline, or finished (a run that
// has ended is never "live", whatever the socket does).
let connection = "connecting";
function showConnection(state) {
  connection = state;
  const shown = FINISHED.has(status) ? "finished"
    : state === "live" ? "live"
    : state === "connecting" ? "connecting…"
    : state.startsWith("reconnecting") && navigator.onLine ? "reconnecting…"
    : "offline";
  const el = $("live-state");
  el.textContent = shown;
  el.dataset.state = shown.replace("…", "");
}
window.addEventListener("offline", () => showConnection(connection));
window.addEventListener("online", () => showConnection(connection));

// ----- timeline -------------------------------------------------------------------------------

function showTimes(root) {
  root.querySelectorAll("time[data-ts]:not([datetime])").forEach((t) => {
    const when = new Date(Number(t.dataset.ts) * 1000);
    t.dateTime = when.toISOString();
    t.textContent = when.toLocaleString();
  });
}

function addTimeline(msg) {
  const timeline = $("timeline");
  if (timeline.querySelector(`li[data-seq="${msg.seq}"]`)) return;  // already on the page
  const li = document.createElement("li");
  li.className = `event event-${msg.type}`;
  li.dataset.seq = msg.seq;
  const time = document.createElement("time");
  time.dataset.ts = msg.ts;
  li.append(`#${msg.seq} `, time, ` ${msg.type}: ${msg.data.message ?? ""}`);
  showTimes(li);
  timeline.prepend(li);
}

$("timeline").addEventListener("click", async (event) => {
  const button = event.target.closest(".timeline-more button");
  if (!button) return;
  button.disabled = true;
  try {
    const response = await fetch(button.dataset.url, { credentials: "same-origin" });
    if (!response.ok) throw new Error(String(response.status));
    const holder = document.createElement("ol");
    holder.innerHTML = await response.text();
    showTimes(holder);
    button.closest("li").replaceWith(...holder.children);
  } catch {
    button.disabled = false;
    button.textContent = "Could not load older events: try again";
  }
});

// ----- commands -------------------------------------------------------------------------------

const commands = $("run-commands");
commands?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const button = event.submitter;
  if (button?.dataset.confirm && !(await confirmStep($("confirm-dialog"), button.dataset.confirm))) {
    $("command-result").textContent = `${button.textContent} not sent.`;
    return;
  }
  $("command-result").textContent = await sendForm(commands, button);
});
document.querySelector("details[data-when] form")?.addEventListener("submit", async (event) => {
  event.preventDefault();
  $("command-result").textContent = await sendForm(event.target, event.submitter);
});

// ----- the socket -----------------------------------------------------------------------------

// Timeline events that add a row to the checkpoints, evaluations or games tables (a self-play
// game is a `log` event with `kind: "selfplay"`); the tables are fetched again rather than
// built here, so they look exactly as the server renders them.
const ADDS_ARTIFACT = new Set(["checkpoint", "evaluation", "sample"]);
const refreshArtifactsSoon = fragmentRefresher("run-artifacts");

function onMessage(msg) {
  if (ADDS_ARTIFACT.has(msg.type) || msg.data?.kind === "selfplay") refreshArtifactsSoon();
  if (!hasGames && (STORES_A_GAME.has(msg.type) || msg.data?.kind === "selfplay")) {
    hasGames = true;
    pickable();
  }
  if (msg.type === "alert") addAlert(msg.data, msg.data?.message);
  federation.onMessage(msg);
  summary.onMessage(msg);
  switch (msg.type) {
    case "connected":
      if (msg.data.run) { setStatus(msg.data.run.status); setProgress(msg.data.run); }
      showBoard(msg.data.board);
      break;
    case "game_state": showBoard(msg.data); break;
    case "progress": setProgress(msg.data); break;
    case "metrics": setMetrics(msg.data.step, msg.data.values); break;
    case "status":
      setStatus(msg.data.status);
      if (msg.data.error) { $("run-error").textContent = msg.data.error; $("run-error").hidden = false; }
      addTimeline(msg);
      break;
    default:
      if (msg.seq !== null && msg.seq !== undefined) addTimeline(msg);
  }
}

setStatus(snapshot.status);
pickable();
showTimes($("timeline"));
groupPickerOptions($("chart-key"));
layoutPanels();
chartKey = defaultKey();
if (chartKey) { $("chart-key").value = chartKey; singlePanel(); }
loadHistory([...keys]);
$("chart-key").addEventListener("change", (e) => chooseChartKey(e.target.value));
$("chart-add").addEventListener("click", addExtraPanel);
// The timeline on the page runs to snapshot.last_seq: the socket replays what came after.
const socket = new LiveSocket(`/ws/runs/${snapshot.id}/`, onMessage, showConnection,
  { afterSeq: snapshot.last_seq });
socket.open();
