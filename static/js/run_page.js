// The run page: status, progress, latest metrics, one live chart and the timeline, over the
// run's WebSocket. The page is complete without JavaScript; this keeps it current.
import uPlot from "../vendor/uplot/uPlot.esm.js";
import { LiveSocket } from "./live_socket.js";
import { LiveBoard } from "./board.js";
import { fragmentRefresher } from "./fragment.js";

const snapshot = JSON.parse(document.getElementById("run-snapshot").textContent);
const chartData = JSON.parse(document.getElementById("run-chart").textContent);
const $ = (id) => document.getElementById(id);
const FINISHED = new Set(["completed", "failed", "stopped", "cancelled"]);
// The first of these a run reports is charted until the user picks another key.
const PREFERRED = ["charts/win_rate_vs_random", "charts/val_accuracy", "losses/value_loss",
  "losses/train_loss", "losses/policy_loss"];

let chartKey = chartData.key;
let xs = chartData.steps.slice();
let ys = chartData.values.slice();
let plot = null;
let board = null;

function showBoard(snapshot) {
  if (!snapshot) return;
  board = board || new LiveBoard($("live-board"));
  board.show(snapshot);
}

function drawChart() {
  const el = $("chart");
  if (!chartKey) { el.textContent = "No metrics yet."; return; }
  const opts = {
    width: el.clientWidth || 560, height: 260,
    scales: { x: { time: false } },
    series: [{ label: "step" }, { label: chartKey, stroke: "#c0392b", width: 2 }],
    axes: [{ label: "step" }, {}],
  };
  el.textContent = "";
  plot = new uPlot(opts, [xs, ys], el);
}

async function chooseChartKey(key) {
  // History comes from the API, downsampled on the server; live points are appended after.
  chartKey = key;
  const url = `/api/v1/runs/${snapshot.id}/metrics/?keys=${encodeURIComponent(key)}&max_points=2000`;
  const response = await fetch(url, { credentials: "same-origin" });
  if (!response.ok) return;
  const series = (await response.json()).series[key] || { step: [], value: [] };
  xs = series.step.slice();
  ys = series.value.slice();
  if (plot) { plot.destroy(); plot = null; }
  drawChart();
}

function setStatus(status) {
  if (status !== "queued") $("queue-position")?.remove();
  const badge = $("run-status");
  badge.textContent = status;
  badge.className = `status status-${status}`;
  document.querySelectorAll("[data-when]").forEach((b) => {
    b.hidden = !b.dataset.when.split(" ").includes(status);
  });
}

function setProgress({ step, total, progress }) {
  $("run-progress").value = progress;
  $("run-step").textContent = total ? `step ${step} / ${total}` : `step ${step}`;
}

function setMetrics(step, values) {
  const table = $("latest-metrics");
  for (const [key, value] of Object.entries(values)) {
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
  for (const key of Object.keys(values)) {
    if (![...picker.options].some((o) => o.value === key)) picker.add(new Option(key, key));
  }
  if (!chartKey) {
    chartKey = PREFERRED.find((k) => k in values) || Object.keys(values).sort()[0];
    picker.value = chartKey;
  }
  if (chartKey in values) {
    xs.push(step); ys.push(values[chartKey]);
    if (plot) plot.setData([xs, ys]); else drawChart();
  }
}

function addTimeline(msg) {
  const li = document.createElement("li");
  li.className = `event event-${msg.type}`;
  const when = new Date(msg.ts * 1000).toLocaleTimeString();
  li.textContent = `#${msg.seq} ${when} ${msg.type}: ${msg.data.message ?? ""}`;
  $("timeline").prepend(li);
}

// Timeline events that add a row to the checkpoints, evaluations or games tables (a self-play
// game is a `log` event with `kind: "selfplay"`); the tables are fetched again rather than
// built here, so they look exactly as the server renders them.
const ADDS_ARTIFACT = new Set(["checkpoint", "evaluation", "sample"]);
const refreshArtifactsSoon = fragmentRefresher("run-artifacts");

function onMessage(msg) {
  if (ADDS_ARTIFACT.has(msg.type) || msg.data?.kind === "selfplay") refreshArtifactsSoon();
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
      if (msg.seq !== null) addTimeline(msg);
  }
}

setStatus(snapshot.status);
drawChart();
$("chart-key").addEventListener("change", (e) => chooseChartKey(e.target.value));
const socket = new LiveSocket(`/ws/runs/${snapshot.id}/`, onMessage, (s) => { $("live-state").textContent = s; });
socket.open();
window.addEventListener("resize", () => plot?.setSize({ width: $("chart").clientWidth, height: 260 }));
if (FINISHED.has(snapshot.status)) $("live-state").textContent = "finished";
