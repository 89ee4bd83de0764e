// A stored game's positions, replayed from its start SFEN and its USI moves with shogiops
// (lishogi's rules): shared by the game viewer and the league's showcase.
import { initialSfen, makeSfen, parseSfen } from "../vendor/shogiops/sfen.js";
import { parseUsi } from "../vendor/shogiops/util.js";
import { makeJapaneseMoveOrDrop } from "../vendor/shogiops/notation/japanese.js";
import { makeWesternMoveOrDrop } from "../vendor/shogiops/notation/western.js";

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
    const mark = pos.turn === "sente" ? "☗" : "☖";
    const move = {
      usi,
      japanese: mark + makeJapaneseMoveOrDrop(pos, md, lastDest),
      western: mark + makeWesternMoveOrDrop(pos, md),
    };
    pos.play(md);
    lastDest = md.to;
    plies.push({ sfen: makeSfen(pos), inCheck: pos.isCheck(), move });
  }
  return { plies, error: null };
}
