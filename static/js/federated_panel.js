// The clients panel of a federated run (templates/runs/_clients.html): one row per client,
// the round's progress, kept current from the run's socket (docs/websocket.md): a `round`
// event starts or ends a round, a `clients` message carries client updates in between.
// The page renders the rows; the state they came from (runs/selectors/federation.py) is the
// starting point. Every text is set with textContent (the page's CSP allows no inline script).

const TERMINAL = new Set(["done", "dropped"]);
const RUN_ENDED = new Set(["completed", "failed", "stopped", "cancelled"]);
const STATES = new Set(["waiting", "training", "straggling", "done", "dropped", "not chosen"]);

function fixed(value, digits) {
  return typeof value === "number" && Number.isFinite(value) ? value.toFixed(digits) : "–";
}

export class FederatedPanel {
  constructor(root) {
    this.root = root;
    if (!root) return;
    const state = JSON.parse(document.getElementById("federation-state").textContent);
    this.round = state.round;           // the round shown (0: none yet)
    this.rounds = state.rounds;
    this.phase = state.phase;           // "start" (running), "end" (averaged) or null
    this.abandoned = state.abandoned;   // a started round the run will never end
    this.lastSeq = state.last_seq;      // round events up to here are in the state already
    this.clients = new Map();           // id -> the row's state
    for (const c of state.clients) this.clients.set(c.id, { ...c });
    this.tbody = root.querySelector("#clients-table tbody");
  }

  onMessage(msg) {
    if (!this.root) return;
    if (msg.type === "round") this.onRound(msg);
    else if (msg.type === "clients") this.onClients(msg.data);
    else if (msg.type === "status" && RUN_ENDED.has(msg.data?.status)) this.onRunEnded();
  }

  // A run that ends mid-round (a stop, a failure) abandons the round: it has no end event
  // and nothing of it is averaged, so its chosen clients wait, as a reload shows them.
  onRunEnded() {
    if (this.phase !== "start" || this.abandoned) return;
    this.abandoned = true;
    for (const c of this.clients.values()) {
      if (c.state === "not chosen") continue;
      Object.assign(c, { state: "waiting", progress: null, straggled: false, reason: "" });
      this.draw(c);
    }
    this.drawRound();
  }

  onRound(msg) {
    const data = msg.data || {};
    if (msg.seq != null && msg.seq <= this.lastSeq) return;  // already in the page's state
    if (msg.seq != null) this.lastSeq = msg.seq;
    if (!Number.isInteger(data.round)) return;
    this.round = data.round;
    if (Number.isInteger(data.rounds)) this.rounds = data.rounds;
    this.phase = data.phase;
    this.abandoned = false;
    if (data.phase === "start") {
      const chosen = new Set(data.clients || []);
      chosen.forEach((id) => this.row(id));
      for (const [id, c] of this.clients) {
        Object.assign(c, chosen.has(id)
          ? { state: "training", progress: 0, straggled: false, reason: "" }
          : { state: "not chosen", progress: null, straggled: false, reason: "" });
        this.draw(c);
      }
    } else if (data.phase === "end") {
      const outcome = data.clients || {};
      Object.keys(outcome).forEach((id) => this.row(Number(id)));
      for (const [id, c] of this.clients) {
        const o = outcome[String(id)];
        if (!o) {
          Object.assign(c, { state: "not chosen", progress: null, straggled: false, reason: "" });
        } else if (o.state === "dropped") {
          Object.assign(c, { state: "dropped", progress: null, straggled: !!o.straggled,
            reason: o.reason || "" });
        } else {
          Object.assign(c, { state: "done", progress: 1, straggled: !!o.straggled, reason: "" });
          if (o.fit) c.fit = o.fit;
          if (o.eval) c.eval = o.eval;
        }
        this.draw(c);
      }
    }
    this.drawRound();
  }

  onClients(data) {
    // Updates of an earlier round are late; after a round's end only its outcome counts.
    if (!data || data.round !== this.round || this.phase !== "start") return;
    for (const u of data.updates || []) {
      if (!Number.isInteger(u.client) || !STATES.has(u.state)) continue;
      const c = this.row(u.client);
      if (TERMINAL.has(c.state) && !TERMINAL.has(u.state)) continue;  // never back from an end
      c.state = u.state;
      if (typeof u.progress === "number") c.progress = u.progress;
      if (u.state === "straggling") c.straggled = true;
      if (u.state === "done") {
        c.progress = 1;
        if (u.fit) c.fit = u.fit;
        if (u.eval) c.eval = u.eval;
      }
      if (u.state === "dropped") { c.progress = null; c.reason = u.reason || ""; }
      if (u.state === "straggling" && typeof u.delay_s === "number") {
        c.reason = `upload delayed ${u.delay_s.toFixed(1)} s`;
      }
      this.draw(c);
    }
  }

  // The row of client `id`, added when a round names a client beyond the config's count.
  row(id) {
    if (!this.clients.has(id)) {
      this.clients.set(id, { id, state: "waiting", progress: null, straggled: false, reason: "",
        fit: {}, eval: {} });
      this.draw(this.clients.get(id));
    }
    return this.clients.get(id);
  }

  drawRound() {
    const label = this.root.querySelector("#fed-round");
    label.textContent = this.round
      ? `round ${this.round} of ${this.rounds}${this.phase === "end" ? ": averaged"
        : this.abandoned ? ": abandoned" : ""}`
      : `no round yet, ${this.rounds} to go`;
    const bar = this.root.querySelector("#fed-round-progress");
    bar.max = this.rounds || 1;
    bar.value = this.phase === "end" ? this.round : Math.max(this.round - 1, 0);
  }

  draw(c) {
    let tr = this.tbody.querySelector(`tr[data-client="${c.id}"]`);
    if (!tr) tr = this.newRow(c.id);
    tr.dataset.state = c.state;
    const cell = tr.querySelector(".client-state");
    const label = document.createElement("span");
    label.className = `client-state-label state-${c.state.replace(" ", "-")}`;
    label.textContent = c.state;
    cell.replaceChildren(label);
    const notes = [];
    if (c.straggled && c.state !== "straggling") notes.push("straggled");
    if (c.reason) notes.push(c.reason);
    for (const text of notes) {
      const note = document.createElement("span");
      note.className = "client-note";
      note.textContent = text;
      cell.append(" ", note);
    }
    const bar = tr.querySelector(".client-progress progress");
    if (typeof c.progress === "number") bar.value = c.progress;
    else bar.removeAttribute("value");
    if (c.progress == null && c.state !== "training") bar.value = 0;
    const fit = c.fit || {};
    const ev = c.eval || {};
    this.setField(tr, "fit.loss", fixed(fit.loss, 4));
    this.setField(tr, "eval.loss", fixed(ev.loss, 4));
    this.setField(tr, "eval.accuracy", fixed(ev.accuracy, 3));
    this.setField(tr, "eval.samples", fixed(ev.samples, 0));
  }

  setField(tr, name, text) { tr.querySelector(`[data-field="${name}"]`).textContent = text; }

  // A row shaped as the template renders one, in client order.
  newRow(id) {
    const tr = document.createElement("tr");
    tr.dataset.client = id;
    const head = document.createElement("th");
    head.scope = "row";
    head.textContent = `client ${id}`;
    const state = document.createElement("td");
    state.className = "client-state";
    const progress = document.createElement("td");
    progress.className = "client-progress";
    const bar = document.createElement("progress");
    bar.max = 1;
    bar.setAttribute("aria-label", `client ${id}: local training`);
    progress.append(bar);
    tr.append(head, state, progress);
    for (const name of ["fit.loss", "eval.loss", "eval.accuracy", "eval.samples"]) {
      const td = document.createElement("td");
      td.className = "num";
      td.dataset.field = name;
      tr.append(td);
    }
    const after = [...this.tbody.rows].find((r) => Number(r.dataset.client) > id);
    this.tbody.insertBefore(tr, after || null);
    return tr;
  }
}
