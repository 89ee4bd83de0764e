// The Shogi board: shogiground (view only) fed with SFEN positions, hands as text. The live
// run page and the game viewer both draw with ShogiBoard; the pieces' glyphs and the hands
// come from the bundled font (see site.css), so no Japanese font need be installed.
// shogiground's one-file build, loaded by templates/runs/_board.html as a classic script
// (its ES modules were some 19 requests of a run page's 26).

const HAND_ORDER = ["R", "B", "G", "S", "N", "L", "P"];
const KANJI = { R: "飛", B: "角", G: "金", S: "銀", N: "桂", L: "香", P: "歩" };

export function handText(hands, sente) {
  // hands: the SFEN hand field, e.g. "2P3pb" or "-"
  const counts = {};
  let n = "";
  for (const c of hands === "-" || !hands ? "" : hands) {
    if (c >= "0" && c <= "9") { n += c; continue; }
    const isSente = c === c.toUpperCase();
    if (isSente === sente) counts[c.toUpperCase()] = (counts[c.toUpperCase()] || 0) + Number(n || 1);
    n = "";
  }
  const parts = HAND_ORDER.filter((p) => counts[p]).map((p) => KANJI[p] + (counts[p] > 1 ? counts[p] : ""));
  return parts.length ? parts.join(" ") : "なし";
}

function lastDests(usi) {
  if (!usi) return [];
  return usi.includes("*") ? [usi.slice(2, 4)] : [usi.slice(0, 2), usi.slice(2, 4)];
}

export class ShogiBoard {
  // root holds .hand-gote, .board and .hand-sente (templates/runs/_board.html). options: more
  // shogiground config, given at construction because it binds input only then (the play
  // page's { viewOnly: false }).
  constructor(root, options = {}) {
    this.root = root;
    this.ground = globalThis.Shogiground(
      {
        viewOnly: true,
        scaleDownPieces: false,
        coordinates: { enabled: true, files: "numeric", ranks: "japanese" },
        sfen: { board: "9/9/9/9/9/9/9/9/9" },
        ...options,
      },
      { board: root.querySelector(".board") },
    );
  }

  // sfen: a full SFEN; lastMove: USI or null; inCheck: the side to move is in check.
  show({ sfen, lastMove = null, inCheck = false }) {
    const [board, turn, hands] = sfen.split(" ");
    this.ground.set({
      sfen: { board },
      lastDests: lastDests(lastMove),
      checks: inCheck ? (turn === "b" ? "sente" : "gote") : false,
    });
    this.root.querySelector(".hand-gote").textContent = `☖ ${handText(hands, false)}`;
    this.root.querySelector(".hand-sente").textContent = `☗ ${handText(hands, true)}`;
  }
}

export class LiveBoard {
  constructor(root) {
    this.root = root;
    this.board = new ShogiBoard(root);
    this.last = null;
    this.analysis = null;
    // The run page's analysis (templates/runs/_analysis.html), when the page offers it.
    const panel = root.querySelector(".analysis[data-mode='live']");
    if (panel) {
      import("./analysis.js").then((module) => {
        this.analysis = module.attachLiveAnalysis(panel, this.board);
        if (this.last) this.analysis.show(this.last);
      });
    }
  }

  show(snapshot) {
    if (!snapshot || !snapshot.sfen) return;
    this.last = snapshot;
    this.analysis?.show(snapshot);
    this.board.show({ sfen: snapshot.sfen, lastMove: snapshot.last_move, inCheck: snapshot.in_check });
    this.root.hidden = false;
    this.root.querySelector(".board-caption").textContent =
      `game ${snapshot.game ?? ""} · ply ${snapshot.ply} · ${snapshot.side_to_move} to move` +
      (snapshot.in_check ? " · check" : "") + (snapshot.last_move ? ` · last ${snapshot.last_move}` : "");
  }
}
