// The compare page: one panel per metric, each run a line in it (static/js/charts.js). The
// chosen metric (#compare-key) comes with the page; a panel per key group is fetched from
// /api/v1/metrics/compare/ (downsampled on the server); runs still training are followed over
// their WebSockets and their points added as they come.
import { ChartBoard, groupKeys } from "./charts.js";
import { LiveSocket } from "./live_socket.js";

const $ = (id) => document.getElementById(id);
const data = JSON.parse($("compare-data").textContent);
const names = new Map(data.runs.map((r) => [String(r.id), r.name]));
const board = new ChartBoard($("compare-panels"), $("compare-charts"), {
  label: (id) => names.get(id) || id,
});
window.keiseiCharts = board;
const runIds = data.runs.map((r) => String(r.id));
let key = data.key;

async function fetchKey(k) {
  const url = `/api/v1/metrics/compare/?runs=${runIds.join(",")}&key=${encodeURIComponent(k)}&max_points=${data.max_points}`;
  const response = await fetch(url, { credentials: "same-origin" });
  if (!response.ok) return null;
  return (await response.json()).series;
}

function fill(panel, series) {
  for (const id of runIds) {
    const s = series[id] || { step: [], value: [] };
    panel.setHistory(id, s.step, s.value);
  }
  panel.redraw();
}

function mainPanel() {
  let panel = board.panels.get("main");
  if (panel && panel.title !== key) { board.remove("main"); panel = null; }
  if (!panel) {
    $("compare-chart").textContent = "";
    panel = board.panel("main", key, runIds, $("compare-chart"));
    panel.title = key;
  }
  return panel;
}

async function chooseKey(k) {
  const series = await fetchKey(k);
  if (!series) return;  // the chart stays as it was
  key = k;
  fill(mainPanel(), series);
  const params = new URLSearchParams(location.search);
  params.set("key", k);
  history.replaceState(null, "", `${location.pathname}?${params}`);  // shareable as it is
}

// A panel for the first key of each group the runs report (the chosen key has its own).
async function groupPanels() {
  for (const group of groupKeys(data.keys)) {
    const k = group.keys[0];
    const panel = board.panel(`key:${k}`, `${group.title}: ${k}`, runIds);
    panel.key = k;
    const series = await fetchKey(k);
    if (series) fill(panel, series);
  }
}

// One socket per followed run, and a user has a limited number of sockets (the server's
// KEISEI_WS_MAX_PER_USER, 20 by default, across tabs): follow at most this many.
const FOLLOW_MAX = 6;
const followed = data.live.slice(0, FOLLOW_MAX);
const following = followed.length === data.live.length ? "following the runs in training"
  : `following ${followed.length} of the ${data.live.length} runs in training (reload for the others' new points)`;

function follow(runId) {
  const onMessage = (msg) => {
    if (msg.type !== "metrics") return;
    const { step, values } = msg.data;
    for (const panel of board.panels.values()) {
      const k = panel === board.panels.get("main") ? key : panel.key;
      if (k in values && panel.append(String(runId), step, values[k])) board.touched(panel);
    }
  };
  new LiveSocket(`/ws/runs/${runId}/`, onMessage, (state) => {
    $("compare-live").textContent = state === "live" ? following : state;
  }).open();
}

if (key) {
  const panel = mainPanel();
  for (const r of data.runs) panel.setHistory(String(r.id), r.step, r.value);
  panel.redraw();
  groupPanels();
}
followed.forEach(follow);
$("compare-key")?.addEventListener("change", (e) => chooseKey(e.target.value));
