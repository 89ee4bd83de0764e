// The arena: every live game (self-play, evaluation, league) of the runs the user may see, as
// a grid of small boards fed by /ws/arena/ (each board at most once a second, the server's
// throttle), with the players and their ratings. Choosing one opens it large, with its move
// list (notation as chosen in the game viewer) and the analysis of the run's newest checkpoint.
import { LiveSocket } from "./live_socket.js";
import { ShogiBoard } from "./board.js";
import { replay, storedNotation } from "./game_replay.js";

const $ = (id) => document.getElementById(id);
const SOURCES = { selfplay: "self-play", evaluation: "evaluation", league: "league" };
// A finished game leaves the grid after FINISHED_MS; one that stopped sending (a paused run,
// a worker gone) after STALE_MS.
const FINISHED_MS = 10_000;
const STALE_MS = 60_000;

const games = new Map();  // game key -> { el, board, data, run, updated, finishedAt }
let opened = null;        // the key of the game shown large
let large = null;         // { board, analysis }

function rated(name, rating) {
  return rating === null || rating === undefined ? `${name} (unrated)` : `${name} (${Math.round(rating)})`;
}

function playersText(data) {
  return `☗ ${rated(data.black, data.black_rating)} – ☖ ${rated(data.white, data.white_rating)}`;
}

function boardParts(root) {
  const gote = document.createElement("div");
  gote.className = "hand hand-gote";
  const row = document.createElement("div");
  row.className = "board-row";
  const board = document.createElement("div");
  board.className = "board";
  row.append(board);
  const sente = document.createElement("div");
  sente.className = "hand hand-sente";
  root.append(gote, row, sente);
}

function tile(key) {
  const el = document.createElement("article");
  el.className = "card arena-game shogi-board";
  el.dataset.game = key;
  el.tabIndex = 0;
  el.setAttribute("role", "button");
  const head = document.createElement("h3");
  el.append(head);
  boardParts(el);
  const players = document.createElement("p");
  players.className = "arena-players";
  const caption = document.createElement("p");
  caption.className = "board-caption muted";
  el.append(players, caption);
  el.addEventListener("click", () => open(key));
  el.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") { event.preventDefault(); open(key); }
  });
  $("arena-grid").append(el);
  return { el, board: new ShogiBoard(el) };
}

function caption(data) {
  const parts = [data.finished ? "finished" : null, data.index != null ? `game ${data.index}` : null,
    `ply ${data.ply}`, `${data.side_to_move} to move`, data.in_check ? "check" : null];
  return parts.filter(Boolean).join(" · ");
}

function update(run, data) {
  if (!data || !data.game || !data.sfen) return;
  let game = games.get(data.game);
  if (!game) {
    game = tile(data.game);
    games.set(data.game, game);
  }
  Object.assign(game, { data, run, updated: Date.now(), finishedAt: data.finished ? Date.now() : null });
  const el = game.el;
  el.classList.toggle("finished", Boolean(data.finished));
  el.dataset.run = String(run);
  el.dataset.ply = String(data.ply);
  el.querySelector("h3").textContent = `${SOURCES[data.source] || data.source} · ${data.title}`;
  el.querySelector(".arena-players").textContent = playersText(data);
  el.querySelector(".board-caption").textContent = caption(data);
  el.title = "open it large"; // its name is its visible text (heading, players, ply)
  game.board.show({ sfen: data.sfen, lastMove: data.last_move, inCheck: data.in_check });
  $("arena-empty").hidden = games.size > 0;
  if (opened === data.game) showLarge(game);
}

function renderMoves(data) {
  const notation = storedNotation();
  const { plies } = replay({ start_sfen: "startpos", moves: data.moves || [] });
  const list = $("arena-moves");
  list.className = `moves notation-${notation}`;
  list.replaceChildren(...plies.slice(1).map((ply) => {
    const item = document.createElement("li");
    item.textContent = ply.move[notation];
    return item;
  }));
  list.lastElementChild?.scrollIntoView({ block: "nearest" });
}

function showLarge(game) {
  const { data } = game;
  large.board.show({ sfen: data.sfen, lastMove: data.last_move, inCheck: data.in_check });
  $("arena-large-title").textContent = `${SOURCES[data.source] || data.source} · ${data.title}`;
  $("arena-players").textContent = playersText(data);
  $("arena-caption").textContent = caption(data);
  $("arena-large").dataset.ply = String(data.ply);
  renderMoves(data);
  large.analysis?.show({ sfen: data.sfen, ply: data.ply, last_move: data.last_move });
}

async function open(key) {
  const game = games.get(key);
  if (!game) return;
  opened = key;
  large = large || { board: new ShogiBoard($("arena-board")), analysis: null };
  // The analysis is the run's: made again for each game opened.
  const panel = $("arena-analysis").content.firstElementChild.cloneNode(true);
  panel.dataset.run = String(game.run);
  $("arena-analysis-slot").replaceChildren(panel);
  $("arena-run-link").href = `/runs/${game.run}/`;
  $("arena-large").hidden = false;
  $("arena-large").dataset.game = key;
  const { attachLiveAnalysis } = await import("./analysis.js");
  if (opened !== key) return;  // another was chosen meanwhile
  large.analysis = attachLiveAnalysis(panel, large.board);
  showLarge(game);
  $("arena-large").scrollIntoView({ block: "start" });
}

$("arena-close").addEventListener("click", () => {
  opened = null;
  $("arena-large").hidden = true;
  $("arena-analysis-slot").replaceChildren();
  if (large) large.analysis = null;
});

function prune() {
  const now = Date.now();
  for (const [key, game] of games) {
    if (key === opened) continue;
    const gone = game.finishedAt ? now - game.finishedAt > FINISHED_MS : now - game.updated > STALE_MS;
    if (gone) { game.el.remove(); games.delete(key); }
  }
  $("arena-empty").hidden = games.size > 0;
}
setInterval(prune, 5_000);

function showConnection(state) {
  const shown = state === "live" ? "live" : state === "connecting" ? "connecting…"
    : state.startsWith("reconnecting") && navigator.onLine ? "reconnecting…" : "offline";
  $("live-state").textContent = shown;
  $("live-state").dataset.state = shown.replace("…", "");
}

function onMessage(msg) {
  if (msg.type === "connected") {
    for (const board of msg.data.games || []) update(board.run, board);
  } else if (msg.type === "arena") {
    update(msg.run, msg.data);
  }
}

const socket = new LiveSocket("/ws/arena/", onMessage, showConnection, { resume: false });
socket.open();
document.body.dataset.arenaReady = "true";
