// The game viewer: every position of a stored game, computed here from its start SFEN and its
// USI moves with shogiops (lishogi's rules), drawn on the shared board; the move list in
// Japanese, Western or USI notation (the choice is remembered in localStorage); scrubbing by
// buttons, arrow keys, Home/End, or a click on a move. The position is kept in the URL's hash.
import { replay, storedNotation, storeNotation } from "./game_replay.js";
import { ShogiBoard } from "./board.js";

const $ = (id) => document.getElementById(id);

function plyFromHash(last) {
  const match = /^#ply=(\d+)$/.exec(location.hash);
  return match ? Math.min(Number(match[1]), last) : 0;
}

const game = JSON.parse($("game-record").textContent);
const { plies, error } = replay(game);
const board = new ShogiBoard($("viewer-board"));
let analysis = null;  // static/js/analysis.js, attached below when the page offers it
const list = $("move-list");
const last = plies.length - 1;
let current = 0;
let notation = storedNotation();

if (error) {
  $("viewer-error").textContent = error;
  $("viewer-error").hidden = false;
}

function renderMoves() {
  list.className = `moves notation-${notation}`;
  list.replaceChildren(
    ...plies.slice(1).map((ply, i) => {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.ply = String(i + 1);
      const number = document.createElement("span");
      number.className = "ply";
      number.textContent = `${i + 1}.`;
      const text = document.createElement("span");
      text.className = "move";
      text.textContent = ply.move[notation];
      button.append(number, text);
      item.append(button);
      return item;
    }),
  );
  markCurrent();
}

function markCurrent() {
  for (const button of list.querySelectorAll("button[aria-current]")) button.removeAttribute("aria-current");
  const button = list.querySelector(`button[data-ply="${current}"]`);
  if (button) {
    button.setAttribute("aria-current", "true");
    button.scrollIntoView({ block: "nearest" });
  }
}

function go(ply) {
  if (!plies.length) return;
  current = Math.max(0, Math.min(last, ply));
  const shown = plies[current];
  board.show({ sfen: shown.sfen, lastMove: shown.move?.usi ?? null, inCheck: shown.inCheck });
  $("viewer-ply").textContent = `ply ${current} / ${last}`;
  const turn = shown.sfen.split(" ")[1] === "b" ? "☗ sente" : "☖ gote";
  $("viewer-caption").textContent =
    (shown.move ? `last ${shown.move[notation]} · ` : "start position · ") +
    `${turn} to move` + (shown.inCheck ? " · check" : "");
  markCurrent();
  analysis?.show(current);
  history.replaceState(null, "", current ? `#ply=${current}` : location.pathname + location.search);
}

function setNotation(value) {
  notation = value;
  storeNotation(value);
  renderMoves();
  go(current);
}

const STEPS = { first: () => 0, prev: () => current - 1, next: () => current + 1, last: () => last };
for (const button of document.querySelectorAll("[data-go]")) {
  button.addEventListener("click", () => go(STEPS[button.dataset.go]()));
}
list.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-ply]");
  if (button) go(Number(button.dataset.ply));
});
document.addEventListener("keydown", (event) => {
  // Arrow keys inside the notation radios or any field belong to that control (a checkbox,
  // such as the analysis switch, has no use for them).
  if (event.target.closest("input:not([type=checkbox]), select, textarea") || event.altKey || event.ctrlKey || event.metaKey) return;
  const keys = { ArrowLeft: STEPS.prev, ArrowRight: STEPS.next, Home: STEPS.first, End: STEPS.last };
  if (!keys[event.key]) return;
  event.preventDefault();
  go(keys[event.key]());
});
for (const radio of document.querySelectorAll('input[name="notation"]')) {
  radio.checked = radio.value === notation;
  radio.addEventListener("change", () => setNotation(radio.value));
}

if (plies.length) {
  renderMoves();
  go(plyFromHash(last));
} else {
  for (const button of document.querySelectorAll("[data-go]")) button.disabled = true;
}
const analysisPanel = document.querySelector(".analysis[data-mode='game']");
if (analysisPanel && plies.length) {
  const { attachGameAnalysis } = await import("./analysis.js");
  analysis = attachGameAnalysis(analysisPanel, board, { plies, go });
  analysis.show(current);
}
document.body.dataset.viewerReady = "true";
