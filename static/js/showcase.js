// The showcase: wait for the worker to play the game (polling the state URL, backing off),
// then replay it on the shared board at the chosen seconds per move, with pause and restart.
import { replay } from "./game_replay.js";
import { ShogiBoard } from "./board.js";

const $ = (id) => document.getElementById(id);
const config = JSON.parse($("showcase-config").textContent);
const board = new ShogiBoard($("showcase-board"));
let speed = config.speed;
let plies = [];
let current = 0;
let timer = null;
let playing = true;

function show(ply) {
  current = ply;
  const shown = plies[current];
  board.show({ sfen: shown.sfen, lastMove: shown.move?.usi ?? null, inCheck: shown.inCheck });
  $("showcase-ply").textContent = `ply ${current} / ${plies.length - 1}`;
  $("showcase-caption").textContent = shown.move ? `last ${shown.move.japanese} (${shown.move.usi})` : "start position";
}

function schedule() {
  clearTimeout(timer);
  if (!playing || current >= plies.length - 1) {
    if (current >= plies.length - 1) setPlaying(false);
    return;
  }
  timer = setTimeout(() => { show(current + 1); schedule(); }, speed * 1000);
}

function setPlaying(value) {
  playing = value;
  $("showcase-toggle").textContent = playing ? "Pause" : "Play";
  $("showcase-toggle").setAttribute("aria-pressed", String(!playing));
  document.body.dataset.showcasePlaying = String(playing);
}

function start(state) {
  const game = state.game;
  const result = replay(game);
  plies = result.plies;
  $("showcase-status").textContent = result.error || "Played: the replay runs by itself.";
  $("showcase-players").textContent = `☗ ${game.black} vs ☖ ${game.white}`;
  $("showcase-result").textContent = `${game.plies} plies · ${game.result}${game.reason ? ` (${game.reason})` : ""}`;
  $("showcase-toggle").disabled = false;
  $("showcase-restart").disabled = false;
  show(0);
  setPlaying(true);
  schedule();
  document.body.dataset.showcaseReady = "true";
}

$("showcase-toggle").addEventListener("click", () => {
  if (!playing && current >= plies.length - 1) show(0);
  setPlaying(!playing);
  schedule();
});
$("showcase-restart").addEventListener("click", () => { show(0); setPlaying(true); schedule(); });
$("showcase-speed").addEventListener("change", (event) => {
  const value = Number(event.target.value);
  const ok = event.target.value !== "" && value >= config.min && value <= config.max;
  $("showcase-speed-error").hidden = ok;
  event.target.setAttribute("aria-invalid", String(!ok));
  if (!ok) return;
  speed = value;
  schedule();
});

// Wait for the game: 1 s between asks at first, up to 5 s; a failed job is said and ends it.
async function poll(delay) {
  let state = null;
  try {
    const response = await fetch(config.stateUrl, { headers: { Accept: "application/json" } });
    if (response.ok) state = await response.json();
  } catch {
    // a dropped connection: ask again later
  }
  if (state?.game) { start(state); return; }
  if (state?.state === "failed") {
    $("showcase-status").textContent = `The game could not be played: ${state.error}`;
    return;
  }
  setTimeout(() => poll(Math.min(delay * 1.5, 5000)), delay);
}

const initial = JSON.parse($("showcase-data").textContent);
if (initial.game) start(initial);
else if (initial.state !== "failed") poll(1000);
