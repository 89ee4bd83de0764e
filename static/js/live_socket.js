// A WebSocket that reconnects by itself; to one run it also resumes durable events by seq.
// Usage: const sock = new LiveSocket(`/ws/runs/${id}/`, onMessage, onState); sock.open();
// A socket that carries several runs (`/ws/runs/`) passes { resume: false }: seq
// numbers are per run there, so they neither order nor de-duplicate messages. A page that
// rendered the run's events up to some seq passes { afterSeq }: the first connection already
// replays what came after it.
export class LiveSocket {
  constructor(path, onMessage, onState = () => {}, { resume = true, afterSeq = null } = {}) {
    this.path = path;
    this.onMessage = onMessage;
    this.onState = onState;
    this.resume = resume;
    this.lastSeq = afterSeq;   // highest durable seq seen: the resume point after a drop
    this.delay = 500;
    this.closedByUs = false;
  }

  open() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const query = this.lastSeq === null ? "" : `?after_seq=${this.lastSeq}`;
    this.ws = new WebSocket(`${scheme}://${location.host}${this.path}${query}`);
    this.ws.onopen = () => { this.delay = 500; this.onState("live"); };
    this.ws.onmessage = (event) => {
      const msg = JSON.parse(event.data);
      if (!this.resume) { this.onMessage(msg); return; }
      if (msg.type === "connected" && this.lastSeq === null) {
        this.lastSeq = msg.data.last_seq;  // history before this is on the page already
      }
      if (msg.seq !== null && msg.seq !== undefined) {
        if (this.lastSeq !== null && msg.seq <= this.lastSeq && msg.type !== "connected") return;
        this.lastSeq = msg.seq;
      }
      this.onMessage(msg);
    };
    this.ws.onclose = (event) => {
      if (this.closedByUs) return;
      this.onState(event.code === 1006 || event.code === 1011 ? "reconnecting…" : `closed (${event.code})`);
      if (event.code === 4008 || event.code === 4403) return;  // refused: retrying will not help
      setTimeout(() => this.open(), this.delay);
      this.delay = Math.min(this.delay * 2, 10000);
    };
  }

  close() { this.closedByUs = true; this.ws?.close(); }
}
