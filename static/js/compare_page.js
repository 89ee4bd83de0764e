// The compare page: one metric of several runs on one uPlot chart. The first chart comes with
// the page; another key is fetched from /api/v1/metrics/compare/ (downsampled on the server).
import uPlot from "../vendor/uplot/uPlot.esm.js";

const $ = (id) => document.getElementById(id);
const COLOURS = ["#c0392b", "#2456a6", "#2e7d32", "#8e44ad", "#d35400", "#16a085", "#7f8c8d",
  "#b7950b", "#c2185b", "#34495e"];
let data = JSON.parse($("compare-data").textContent);
let plot = null;

function draw() {
  const el = $("compare-chart");
  if (plot) { plot.destroy(); plot = null; }
  if (!data.key) return;
  el.textContent = "";
  // Runs log different steps: join them on step, a gap (null) where a run has no point.
  const aligned = uPlot.join(data.runs.map((r) => [r.step, r.value]));
  const series = [{ label: "step" }, ...data.runs.map((r, i) => ({
    label: r.name, stroke: COLOURS[i % COLOURS.length], width: 2, spanGaps: true,
  }))];
  plot = new uPlot({
    width: el.clientWidth || 800, height: 360,
    scales: { x: { time: false } },
    series,
    axes: [{ label: "step" }, { label: data.key, size: 70 }],
  }, aligned, el);
}

async function chooseKey(key) {
  const ids = data.runs.map((r) => r.id).join(",");
  const url = `/api/v1/metrics/compare/?runs=${ids}&key=${encodeURIComponent(key)}&max_points=${data.max_points}`;
  const response = await fetch(url, { credentials: "same-origin" });
  if (!response.ok) return;  // the chart stays as it was
  const body = await response.json();
  data = {
    ...data,
    key,
    runs: data.runs.map((r) => {
      const s = body.series[String(r.id)] || { step: [], value: [] };
      return { ...r, step: s.step, value: s.value };
    }),
  };
  const params = new URLSearchParams(location.search);
  params.set("key", key);
  history.replaceState(null, "", `${location.pathname}?${params}`);  // shareable as it is
  draw();
}

draw();
$("compare-key")?.addEventListener("change", (e) => chooseKey(e.target.value));
window.addEventListener("resize", () => plot?.setSize({ width: $("compare-chart").clientWidth, height: 360 }));
