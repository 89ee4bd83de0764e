// A stored game's positions, replayed from its start SFEN and its USI moves with shogiops
// (lishogi's rules): shared by the game viewer and the league's showcase.
import { initialSfen, makeSfen, parseSfen } from "../vendor/shogiops/sfen.js";
import { parseUsi } from "../vendor/shogiops/util.js";
import { makeJapaneseMoveOrDrop } from "../vendor/shogiops/notation/japanese.js";
import { makeWesternMoveOrDrop } from "../vendor/shogiops/notation/western.js";

export const NOTATIONS = ["japanese", "western", "usi"];
const NOTATION_KEY = "keisei.notation";

// The notation the person chose in the game viewer (remembered in localStorage): the move
// list and the analysis's candidate moves both use it.
export function storedNotation() {
  try {
    const value = localStorage.getItem(NOTATION_KEY);
    return NOTATIONS.includes(value) ? value : "japanese";
  } catch {
    return "japanese"; // storage refused (private mode): the default, not an error
  }
}

export function storeNotation(value) {
  try {
    localStorage.setItem(NOTATION_KEY, value);
  } catch {
    // not remembered, still shown
  }
}

// One move of the position ``pos`` (shogiops) in each notation, before it is played.
function notations(pos, md, usi, lastDest) {
  const mark = pos.turn === "sente" ? "☗" : "☖";
  return {
    usi,
    japanese: mark + makeJapaneseMoveOrDrop(pos, md, lastDest),
    western: mark + makeWesternMoveOrDrop(pos, md),
  };
}

// A legal move of the position ``sfen`` in each notation; null if either cannot be read or
// the move is not legal there (the caller shows the USI).
export function moveInNotations(sfen, usi) {
  const parsed = parseSfen("standard", sfen);
  const md = parseUsi(usi);
  if (parsed.isErr || !md || !parsed.value.isLegal(md)) return null;
  return notations(parsed.value, md, usi, undefined);
}

// Every ply's position and its move in each notation. A move the rules refuse ends the
// replay there, said on the page: a record is never drawn past a position it cannot reach.
export function replay(game) {
  const start = !game.start_sfen || game.start_sfen === "startpos" ? initialSfen("standard") : game.start_sfen;
  const parsed = parseSfen("standard", start);
  if (parsed.isErr) return { plies: [], error: `The start position cannot be read: ${start}` };
  const pos = parsed.value;
  const plies = [{ sfen: makeSfen(pos), inCheck: pos.isCheck(), move: null }];
  let lastDest;
  for (const [i, usi] of game.moves.entries()) {
    const md = parseUsi(usi);
    if (!md || !pos.isLegal(md)) {
      return { plies, error: `Move ${i + 1} (${usi}) is not legal in its position; the replay stops before it.` };
    }
    const move = notations(pos, md, usi, lastDest);
    pos.play(md);
    lastDest = md.to;
    plies.push({ sfen: makeSfen(pos), inCheck: pos.isCheck(), move });
  }
  return { plies, error: null };
}
