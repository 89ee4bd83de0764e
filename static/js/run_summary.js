// The summary at the top of a finished run's page (templates/runs/_summary.html), shown
// when the run's last durable event (`summary`) arrives over the socket, hidden again when
// the run goes back to the queue. Built with textContent only: the data is the run's.
const LIVE = new Set(["queued", "running", "paused"]);

// 3.2s, 42s, 3m 12s, 2h 5m: as the summary event's sentence says it (runs/services/summaries.py).
export function durationText(seconds) {
  if (seconds < 10) return `${seconds.toFixed(1)}s`;
  const whole = Math.round(seconds);
  if (whole < 60) return `${whole}s`;
  if (whole < 3600) return `${Math.floor(whole / 60)}m ${whole % 60}s`;
  return `${Math.floor(whole / 3600)}h ${Math.floor((whole % 3600) / 60)}m`;
}

function number(value) {
  return value === null || value === undefined ? "–" : Number(value).toFixed(4);
}

export class RunSummary {
  constructor(root) {
    this.root = root;
    if (!root) return;
    const duration = this.field("duration");
    if (duration.dataset.seconds) duration.textContent = durationText(Number(duration.dataset.seconds));
  }

  field(name) {
    return this.root.querySelector(`[data-field="${name}"]`);
  }

  onMessage(msg) {
    if (!this.root) return;
    if (msg.type === "summary") this.show(msg.data);
    else if (msg.type === "status" && LIVE.has(msg.data?.status)) this.root.hidden = true;
    else if (msg.type === "connected" && LIVE.has(msg.data?.run?.status)) this.root.hidden = true;
  }

  show(s) {
    const status = this.field("status");
    status.textContent = s.status;
    status.className = `status status-${s.status}`;
    this.field("reason").textContent = s.reason ?? "";
    const duration = this.field("duration");
    const seconds = s.duration_s;
    duration.dataset.seconds = seconds ?? "";
    duration.textContent = seconds === null || seconds === undefined ? "never started" : durationText(seconds);
    this.field("steps").textContent = s.total ? `${s.step} / ${s.total}` : `${s.step}`;
    this.showBest(s.best);
    this.showCheckpoint(s.checkpoint);
    this.root.hidden = false;
  }

  showBest(best) {
    const details = this.field("best-metrics");
    if (!best) {
      this.field("best").textContent = "no best step (no metric to judge it by)";
      details.hidden = true;
      return;
    }
    this.field("best").textContent = `${best.metric} ${number(best.value)} at step ${best.step}`;
    this.field("best-step").textContent = String(best.step);
    const body = details.querySelector("tbody");
    body.replaceChildren();
    // In key order, as the server renders them (a stored summary's keys come back reordered).
    const entries = Object.entries(best.metrics || {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    for (const [key, value] of entries) {
      const row = body.insertRow();
      const th = document.createElement("th");
      th.scope = "row";
      th.textContent = key;
      const td = document.createElement("td");
      td.textContent = number(value);
      row.append(th, td);
    }
    details.hidden = false;
  }

  showCheckpoint(checkpoint) {
    const holder = this.field("checkpoint");
    holder.replaceChildren();
    if (!checkpoint) {
      const none = document.createElement("span");
      none.className = "muted";
      none.textContent = "No checkpoint to use.";
      holder.append(none);
      return;
    }
    const download = document.createElement("a");
    download.className = "summary-download";
    download.href = checkpoint.url;
    download.textContent = `Download the ${checkpoint.kind} checkpoint (step ${checkpoint.step})`;
    const fork = document.createElement("a");
    fork.className = "summary-fork";
    const params = new URLSearchParams({ from: this.root.dataset.run, checkpoint: String(checkpoint.id) });
    fork.href = `${this.root.dataset.newUrl}?${params}`;
    fork.textContent = "Start a new run from it…";
    holder.append(download, " · ", fork);
  }
}
