// Analysis on the board, from the run's checkpoints (GET /api/v1/runs/<id>/analysis/ and
// .../games/<gid>/analysis/): an evaluation bar beside the board (Black's win probability),
// the top candidate moves (hovering or focusing one draws its arrow on the board), an optional
// policy heatmap, and in the game viewer a win-probability graph over the game (uPlot).
// Optional and off by default: the "Analysis" switch is remembered in localStorage, and
// nothing is asked of the server while it is off.
import uPlot from "../vendor/uplot/uPlot.esm.js";
import { moveInNotations, storedNotation } from "./game_replay.js";

const ON_KEY = "keisei.analysis";
const HEAT_KEY = "keisei.analysis.heatmap";
const LIVE_INTERVAL_MS = 1000;   // the live board asks at most once a second
const NO_CHECKPOINT_RETRY_MS = 10_000;
const HEAT_LEVELS = [0.01, 0.03, 0.08, 0.2, 0.4];  // policy mass per square -> heat-1..5
const PIECES = { P: "pawn", L: "lance", N: "knight", S: "silver", G: "gold", B: "bishop", R: "rook" };

function remembered(key) {
  try { return localStorage.getItem(key) === "on"; } catch { return false; }
}

function remember(key, on) {
  try { localStorage.setItem(key, on ? "on" : "off"); } catch { /* shown, not remembered */ }
}

// Board, side and hands: the move number may be written differently.
function samePosition(a, b) {
  return a.split(" ").slice(0, 3).join(" ") === b.split(" ").slice(0, 3).join(" ");
}

function percent(p) { return `${Math.round(p * 100)}%`; }

// The page's styles for analysis, loaded the first time it is turned on (a light page else).
function loadStyles(root) {
  for (const href of [root.dataset.css, root.dataset.uplotCss]) {
    if (!href || document.querySelector(`link[href="${CSS.escape(href)}"]`)) continue;
    const link = document.createElement("link");
    link.rel = "stylesheet";
    link.href = href;
    document.head.append(link);
  }
}

class AnalysisError extends Error {
  constructor(code, message) { super(message); this.code = code; }
}

async function getJson(url) {
  const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new AnalysisError(body.error?.code || String(response.status), body.detail || response.statusText);
  }
  return body;
}

// The switch, the eval bar, the top moves and the heatmap, shared by the live board and the
// viewer. board: a ShogiBoard (its shogiground draws the arrows and the heatmap).
class AnalysisView {
  constructor(root, board, { onChange }) {
    this.root = root;
    this.board = board;
    this.boardRoot = board.root;
    this.onChange = onChange;
    this.$ = (sel) => root.querySelector(sel);
    this.bar = this.boardRoot.querySelector(".eval-bar");
    this.heat = null;   // policy_by_square of the position shown, when the heatmap is on
    const toggle = this.$(".analysis-on");
    // Switched on before this module was attached (the live board attaches on its first
    // position): that counts as a choice too.
    if (toggle.checked) remember(ON_KEY, true);
    this.on = toggle.checked || remembered(ON_KEY);
    this.heatmap = this.$(".analysis-heatmap").checked || remembered(HEAT_KEY);
    toggle.checked = this.on;
    toggle.addEventListener("change", () => this.setOn(toggle.checked));
    const heat = this.$(".analysis-heatmap");
    heat.checked = this.heatmap;
    heat.addEventListener("change", () => {
      this.heatmap = heat.checked;
      remember(HEAT_KEY, this.heatmap);
      if (!this.heatmap) this.showHeat(null);
      this.onChange();
    });
    this.moves = this.$(".analysis-moves");
    // An arrow while a candidate is hovered or focused (keyboard users get it too).
    const draw = (event) => {
      const button = event.target.closest("button[data-usi]");
      this.arrow(button ? button.dataset.usi : null);
    };
    this.moves.addEventListener("pointerover", draw);
    this.moves.addEventListener("focusin", draw);
    this.moves.addEventListener("pointerleave", () => this.arrow(null));
    this.moves.addEventListener("focusout", () => this.arrow(null));
    this.setOn(this.on, { initial: true });
  }

  setOn(on, { initial = false } = {}) {
    this.on = on;
    if (!initial) remember(ON_KEY, on);
    if (on) loadStyles(this.root);
    this.$(".analysis-body").hidden = !on;
    if (this.bar) this.bar.hidden = !on;
    this.root.dataset.analysis = on ? "on" : "off";
    if (!on) { this.arrow(null); this.showHeat(null); }
    if (!initial) this.onChange();  // the attach functions start the first request
  }

  status(text) { this.$(".analysis-status").textContent = text; }

  // p: Black's win probability, or null (nothing to show).
  showEval(p, side) {
    if (!this.bar) return;
    const known = p != null;
    this.bar.classList.toggle("eval-unknown", !known);
    const value = known ? p : 0.5;
    this.bar.querySelector(".eval-fill").style.height = `${(value * 100).toFixed(1)}%`;
    this.bar.setAttribute("aria-valuenow", known ? String(Math.round(value * 100)) : "50");
    this.bar.setAttribute("aria-valuetext", known ? `Black (sente) ${percent(value)}` : "unknown");
    this.bar.dataset.blackWin = known ? value.toFixed(4) : "";
    this.bar.title = known ? `☗ sente ${percent(value)} · ☖ gote ${percent(1 - value)}` : "";
    const text = this.$(".analysis-eval");
    text.textContent = known ? `☗ sente ${percent(value)} · ☖ gote ${percent(1 - value)}` +
      (side ? ` (${side === "black" ? "☗" : "☖"} to move)` : "") : "";
  }

  // Each candidate in the notation the person chose in the game viewer (USI when the
  // position is unknown or the move cannot be read).
  showMoves(topMoves, sfen) {
    this.arrow(null);
    const notation = storedNotation();
    this.moves.replaceChildren(...(topMoves || []).map((m) => {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "link";
      button.dataset.usi = m.usi;
      const written = (sfen && moveInNotations(sfen, m.usi)?.[notation]) || m.usi;
      button.setAttribute("aria-label", `${written}, ${percent(m.probability)}: show on the board`);
      const usi = document.createElement("span");
      usi.className = "usi";
      usi.textContent = written;
      const p = document.createElement("span");
      p.className = "probability";
      p.textContent = percent(m.probability);
      button.append(usi, " ", p);
      item.append(button);
      return item;
    }));
  }

  // One candidate's arrow (a drop: the piece on its square), or none.
  arrow(usi) {
    const ground = this.board.ground;
    if (!usi) { ground.setAutoShapes([]); this.moves.dataset.arrow = ""; return; }
    const sente = this.sideToMove !== "white";
    const dest = usi.slice(2, 4);
    const shape = usi[1] === "*"
      ? { orig: dest, dest, brush: "analysis", piece: { role: PIECES[usi[0]], color: sente ? "sente" : "gote", scale: 0.7 } }
      : { orig: usi.slice(0, 2), dest, brush: "analysis" };
    ground.setAutoShapes([shape]);
    this.moves.dataset.arrow = usi;
  }

  // policy_by_square ({"7f": 0.4, ...}) as square highlights, or none.
  showHeat(policy) {
    this.heat = policy;
    const squares = [];
    for (const [key, mass] of Object.entries(policy || {})) {
      const level = HEAT_LEVELS.filter((t) => mass >= t).length;
      if (level) squares.push({ key, className: `heat heat-${level}` });
    }
    this.board.ground.setSquareHighlights(squares);
  }

  position({ blackWin, side, topMoves, sfen }) {
    this.sideToMove = side;
    this.showEval(blackWin, side);
    this.showMoves(topMoves, sfen);
  }

  clear() {
    this.sideToMove = null;
    this.showEval(null);
    this.showMoves([]);
    this.showHeat(null);
  }
}

// The run page: the live self-play board analysed by the run's newest checkpoint, at most
// once a second, the newest position first (older ones are never asked for).
export function attachLiveAnalysis(root, board) {
  const runId = root.dataset.run;
  let latest = null;       // the newest position shown on the board
  let asked = null;        // the SFEN of the last answer asked for
  let busy = false;
  let lastAsk = 0;
  let timer = null;
  let retryAfter = 0;
  const view = new AnalysisView(root, board, { onChange: () => { asked = null; schedule(); } });

  function schedule() {
    if (!view.on || !latest || busy || timer) return;
    const wait = Math.max(lastAsk + LIVE_INTERVAL_MS, retryAfter) - Date.now();
    if (wait > 0) { timer = setTimeout(() => { timer = null; schedule(); }, wait); return; }
    if (latest.sfen === asked) return;
    ask(latest.sfen);
  }

  async function ask(sfen) {
    busy = true;
    lastAsk = Date.now();
    asked = sfen;
    try {
      const answer = await getJson(`/api/v1/runs/${runId}/analysis/?sfen=${encodeURIComponent(sfen)}&top_k=5`);
      if (!view.on) return;
      view.position({
        blackWin: answer.black_win_probability, side: answer.side_to_move,
        topMoves: answer.top_moves, sfen: answer.sfen,
      });
      // The board may have moved on while the network thought: no stale heat on a new position.
      const still = latest && samePosition(latest.sfen, answer.sfen);
      view.showHeat(view.heatmap && still ? answer.policy_by_square : null);
      view.status(`By the newest checkpoint (step ${answer.checkpoint.step}), ` +
        `at ply ${latest?.ply ?? "?"}.`);
      root.dataset.analysedSfen = answer.sfen;
    } catch (error) {
      view.clear();
      asked = null;
      if (error.code === "no_checkpoint") {
        view.status("No checkpoint yet: analysis starts once the run saves its first checkpoint.");
        retryAfter = Date.now() + NO_CHECKPOINT_RETRY_MS;
      } else {
        view.status(`Analysis is not available: ${error.message}`);
        retryAfter = Date.now() + NO_CHECKPOINT_RETRY_MS;
      }
      root.dataset.analysisError = error.code || "error";
    } finally {
      busy = false;
      schedule();
    }
  }

  return {
    show(position) {
      if (latest && !samePosition(latest.sfen, position.sfen)) {
        view.arrow(null);
        view.showHeat(null);
      }
      latest = position;
      schedule();
    },
  };
}

// The game viewer: every ply of the game analysed at once (one request per checkpoint), the
// graph of Black's win probability over the game, the eval bar and top moves of the ply shown;
// the heatmap asks for the shown position alone.
export function attachGameAnalysis(root, board, { plies, go }) {
  const runId = root.dataset.run;
  const recordId = root.dataset.record;
  const select = root.querySelector(".analysis-checkpoint");
  const graphRoot = root.querySelector(".analysis-graph");
  let game = null;         // the answer for the chosen checkpoint
  let loading = null;      // the checkpoint being fetched
  let current = 0;
  let plot = null;
  let resizer = null;
  let heatAsked = null;
  const view = new AnalysisView(root, board, { onChange: () => refresh() });

  select?.addEventListener("change", () => { game = null; heatAsked = null; refresh(); });
  if (view.on) refresh();

  // The game's own checkpoint is the server's default (and it says why it is that one).
  function checkpointParam() {
    if (!select || !select.value || select.value === select.dataset.default) return "";
    return `?checkpoint=${encodeURIComponent(select.value)}`;
  }

  async function refresh() {
    if (!view.on) return;
    const wanted = select ? select.value : "";
    if (!game || game.wanted !== wanted) {
      if (loading === wanted) return;
      loading = wanted;
      view.status("Analysing the game…");
      try {
        const answer = await getJson(`/api/v1/runs/${runId}/games/${recordId}/analysis/${checkpointParam()}`);
        if (loading !== wanted) return;  // the choice changed meanwhile
        game = { ...answer, wanted };
        const how = { played: "which played this game", nearest: "nearest before this game",
          latest: "the run's newest", chosen: "chosen" }[answer.checkpoint.why] || "";
        view.status(`By the checkpoint at step ${answer.checkpoint.step}${how ? ` (${how})` : ""}` +
          (answer.complete ? "." : ", up to the first illegal move."));
        drawGraph();
      } catch (error) {
        game = null;
        view.clear();
        view.status(error.code === "no_checkpoint"
          ? "This run has no checkpoint to analyse with."
          : `Analysis is not available: ${error.message}`);
        root.dataset.analysisError = error.code || "error";
        return;
      } finally {
        if (loading === wanted) loading = null;
      }
    }
    showPly();
  }

  function showPly() {
    if (!view.on || !game) return;
    const ply = game.plies[Math.min(current, game.plies.length - 1)];
    if (current >= game.plies.length) {
      view.clear();
    } else {
      view.position({
        blackWin: ply.black_win_probability, side: ply.side_to_move,
        topMoves: ply.top_moves, sfen: ply.sfen,
      });
    }
    root.dataset.analysedPly = String(current);
    plot?.redraw(false, false);
    heatmap();
  }

  async function heatmap() {
    if (!view.heatmap || !game || current >= game.plies.length) { view.showHeat(null); return; }
    const sfen = game.plies[current].sfen;
    const key = `${game.checkpoint.id} ${sfen}`;
    if (heatAsked === key) return;
    heatAsked = key;
    view.showHeat(null);  // never the last ply's heat on this one
    try {
      const answer = await getJson(`/api/v1/runs/${runId}/analysis/?sfen=${encodeURIComponent(sfen)}` +
        `&checkpoint=${game.checkpoint.id}&top_k=1`);
      if (heatAsked === key && view.heatmap) view.showHeat(answer.policy_by_square);
    } catch (error) {
      heatAsked = null;
      view.status(`The heatmap is not available: ${error.message}`);
    }
  }

  function drawGraph() {
    if (!graphRoot) return;
    const x = game.plies.map((p) => p.ply);
    const y = game.plies.map((p) => p.black_win_probability);
    const width = Math.max(200, graphRoot.clientWidth || 400);
    const options = {
      width,
      height: 160,
      legend: { show: false },
      cursor: { drag: { x: false, y: false }, points: { show: false } },
      scales: { x: { time: false }, y: { range: [0, 1] } },
      axes: [
        { label: "ply", size: 36 },
        { values: (u, splits) => splits.map((v) => `${Math.round(v * 100)}%`), size: 52 },
      ],
      series: [{}, { label: "☗ sente win probability", stroke: "#c0392b", width: 2,
        fill: "rgba(192, 57, 43, 0.12)" }],
      hooks: { draw: [markPly] },
    };
    plot?.destroy();
    graphRoot.replaceChildren();
    plot = new uPlot(options, [x, y], graphRoot);
    graphRoot.dataset.points = String(x.length);
    // As wide as its card, whatever the window does (a phone turned, a sidebar opened).
    if (!resizer) {
      resizer = new ResizeObserver(() => {
        const w = Math.floor(graphRoot.clientWidth);
        if (plot && w > 0 && w !== plot.width) plot.setSize({ width: w, height: 160 });
      });
      resizer.observe(graphRoot);
    }
    // A click on the graph goes to that ply.
    plot.over.addEventListener("click", () => {
      const idx = plot.cursor.idx;
      if (idx != null) go(idx);
    });
  }

  // The even line and the ply shown, drawn over the plot.
  function markPly(u) {
    const { ctx, bbox } = u;
    ctx.save();
    ctx.strokeStyle = "rgba(127, 127, 127, 0.6)";
    ctx.setLineDash([4, 4]);
    const even = u.valToPos(0.5, "y", true);
    ctx.beginPath(); ctx.moveTo(bbox.left, even); ctx.lineTo(bbox.left + bbox.width, even); ctx.stroke();
    ctx.setLineDash([]);
    ctx.strokeStyle = "#2456a6";
    ctx.lineWidth = 2 * devicePixelRatio;
    const at = u.valToPos(current, "x", true);
    ctx.beginPath(); ctx.moveTo(at, bbox.top); ctx.lineTo(at, bbox.top + bbox.height); ctx.stroke();
    ctx.restore();
  }

  return {
    show(ply) {
      current = ply;
      if (view.on) refresh();
    },
    plies,
  };
}
