// The league page's chart: each visible checkpoint's rating after each of its matches, on a
// time axis (uPlot), from the data the page embeds (selectors.league_rating_history). Wide
// as its card, redrawn when the card's width changes (a phone turned, a window resized).
import uPlot from "../vendor/uplot/uPlot.esm.js";

const COLOURS = ["#b03a2e", "#2e6fb0", "#2e7d32", "#b7791f", "#7b3fa0", "#00838f", "#6d4c41", "#c2185b"];
const HEIGHT = 260;

const el = document.getElementById("rating-chart");
const ratings = JSON.parse(document.getElementById("league-ratings-data").textContent);

function options(width) {
  const grid = { stroke: "rgba(128,128,128,.2)" };
  const ticks = { stroke: "rgba(128,128,128,.3)" };
  return {
    width,
    height: HEIGHT,
    scales: { x: { time: true } },
    series: [
      { label: "time" },
      ...ratings.series.map((s, i) => ({
        label: s.label, stroke: COLOURS[i % COLOURS.length], width: 2, spanGaps: true,
        points: { show: true, size: 5 }, value: (u, v) => (v == null ? "–" : v.toFixed(0)),
      })),
    ],
    axes: [
      { stroke: "currentColor", grid, ticks },
      { stroke: "currentColor", grid, ticks, size: 56 },
    ],
  };
}

let plot = null;
function draw() {
  const width = Math.max(200, el.clientWidth - 8);
  if (plot && Math.abs(plot.width - width) < 2) return;
  if (plot) plot.destroy();
  plot = new uPlot(options(width), [ratings.time, ...ratings.values], el);
  el.dataset.drawn = String(ratings.series.length);
}

draw();
new ResizeObserver(() => draw()).observe(el);
