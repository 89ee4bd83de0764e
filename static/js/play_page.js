// The play page: the person moves on the shared board (drag or click; drops and any move typed
// in USI), the server checks the move and answers with the network's (POST .../move/), the
// page shows the answer, the analysis of the position, and at the end the result and the
// stored record. Every answer carries the whole game: the board is redrawn from it.
import { ShogiBoard } from "./board.js";
import { replay } from "./game_replay.js";

const $ = (id) => document.getElementById(id);
const config = JSON.parse($("play-config").textContent);
let game = JSON.parse($("play-game").textContent);
let busy = false;
let pendingPromotion = null;

const COLOR = { black: "sente", white: "gote" };
const board = new ShogiBoard($("play-board"), {
  viewOnly: false,
  orientation: COLOR[game.side],
  movable: { free: false, showDests: true, events: { after: onBoardMove } },
  droppable: { free: false },
  draggable: { enabled: true },
  selectable: { enabled: true },
});

function csrf() {
  return document.querySelector("#play-move-form [name=csrfmiddlewaretoken]").value;
}

function legal() {
  return new Set(game.state.legal_moves || []);
}

function myTurn() {
  return game.status === "active" && game.state.side_to_move === game.side && !busy;
}

// shogiground's move destinations: origin square -> squares, from the server's legal moves.
function dests() {
  const map = new Map();
  if (!myTurn()) return map;
  for (const usi of legal()) {
    if (usi[1] === "*") continue;
    const from = usi.slice(0, 2);
    const to = usi.slice(2, 4);
    if (!map.has(from)) map.set(from, []);
    if (!map.get(from).includes(to)) map.get(from).push(to);
  }
  return map;
}

function onBoardMove(orig, dest) {
  const plain = orig + dest;
  const moves = legal();
  if (moves.has(plain) && moves.has(plain + "+")) {
    pendingPromotion = plain;
    $("play-promotion").hidden = false;
    $("play-promotion").querySelector("[data-promote=yes]").focus();
    return;
  }
  send(moves.has(plain) ? plain : plain + "+");
}

function showError(message) {
  $("play-error").textContent = message;
  $("play-error").hidden = !message;
}

function resultText() {
  const won = game.result === `${game.side}_win`;
  const outcome = game.result === "draw" ? "a draw" : won ? "you won" : "you lost";
  return `Game over: ${outcome} (${game.reason.replace("_", " ")}) after ${game.ply} plies.`;
}

function render() {
  const state = game.state;
  board.show({ sfen: state.sfen, lastMove: state.last_move, inCheck: state.in_check });
  board.ground.set({
    turnColor: COLOR[state.side_to_move],
    activeColor: myTurn() ? COLOR[game.side] : undefined,
    movable: { dests: dests() },
  });
  $("play-caption").textContent = `ply ${game.ply} · ${state.side_to_move} to move${state.in_check ? " · check" : ""}`;
  const over = game.status !== "active";
  document.body.dataset.playPly = String(game.ply);
  document.body.dataset.playStatus = game.status;
  $("play-status").textContent = over ? resultText() : busy ? "The network is thinking…" : myTurn() ? "Your move." : "Waiting…";
  $("play-move-submit").disabled = over || busy;
  $("play-resign").disabled = over || busy;
  $("play-move").disabled = over || busy;
  $("play-model-move").textContent = game.model_move ? `Its last move: ${game.model_move}` : "No move yet.";
  renderAnalysis(game.analysis);
  renderMoves();
  $("play-result").hidden = !over;
  if (over) {
    $("play-result-text").textContent = resultText();
    const links = $("play-record-links");
    links.replaceChildren();
    if (game.record) {
      links.append("The game is kept with the run: ");
      for (const [label, href] of [["the game page", game.record.page], ["KIF", game.record.kif], ["CSA", game.record.csa]]) {
        const a = document.createElement("a");
        a.href = href;
        a.textContent = label;
        links.append(a, " ");
      }
    }
  }
}

function renderAnalysis(analysis) {
  const list = $("play-top-moves");
  list.replaceChildren();
  if (!analysis) {
    $("play-value").textContent = "–";
    return;
  }
  const percent = Math.round(analysis.win_probability * 100);
  $("play-value").textContent = `Your expected score, as the network sees it: ${percent}%`;
  for (const candidate of analysis.top_moves) {
    const li = document.createElement("li");
    li.textContent = `${candidate.usi} (${(candidate.probability * 100).toFixed(1)}%)`;
    list.append(li);
  }
}

function renderMoves() {
  const list = $("play-moves");
  list.replaceChildren();
  const { plies } = replay({ start_sfen: game.start_sfen, moves: game.moves });
  game.moves.forEach((usi, i) => {
    const li = document.createElement("li");
    const named = plies[i + 1]?.move?.japanese;
    li.textContent = named ? `${named} (${usi})` : usi;
    list.append(li);
  });
}

async function post(url, body) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrf() },
    body: JSON.stringify(body),
    credentials: "same-origin",
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = answer.error || {};
    const reasons = Object.values(error.fields || {}).flat();
    throw new Error(reasons[0] || error.message || `refused (${response.status})`);
  }
  return answer;
}

async function act(url, body) {
  if (busy) return;
  busy = true;
  showError("");
  render();
  try {
    game = await post(url, body);
  } catch (error) {
    showError(error.message);
  } finally {
    busy = false;
    render();
  }
}

function send(usi) {
  pendingPromotion = null;
  $("play-promotion").hidden = true;
  return act(config.move, { move: usi, ply: game.ply });
}

$("play-promotion").addEventListener("click", (event) => {
  const choice = event.target.closest("[data-promote]");
  if (!choice || !pendingPromotion) return;
  send(pendingPromotion + (choice.dataset.promote === "yes" ? "+" : ""));
});

$("play-move-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const usi = $("play-move").value.trim();
  if (!usi) return;
  $("play-move").value = "";
  send(usi);
});

$("play-resign").addEventListener("click", () => act(config.resign, { ply: game.ply }));

render();
document.body.dataset.playReady = "true";
