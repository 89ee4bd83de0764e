// The system page: every worker's statistics over /ws/system/, the queue depths from
// /api/v1/system/. The page is complete without JavaScript; this keeps it current.
const $ = (id) => document.getElementById(id);
const initial = JSON.parse($("system-overview").textContent);
const LOST_AFTER_INTERVALS = 3;
const QUEUE_POLL_MS = 10000;
const workers = new Map();  // worker_id -> {stats, seenAt (ms, this clock)}

function bytes(n) {
  if (n === null || n === undefined) return "—";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

function cell(row, content) {
  const td = row.insertCell();
  if (content instanceof Node) td.append(content); else td.textContent = content;
  return td;
}

function isLost({ stats, seenAt }) {
  return Date.now() - seenAt > LOST_AFTER_INTERVALS * (stats.interval || initial.interval) * 1000;
}

function runCell(stats) {
  if (stats.run) {
    const a = document.createElement("a");
    a.href = `/runs/${stats.run}/`;
    a.textContent = `run ${stats.run}`;
    return a;
  }
  return stats.busy ? "another user's run" : "—";
}

function render() {
  const body = $("workers").tBodies[0];
  body.textContent = "";
  const entries = [...workers.values()].sort(
    (a, b) => a.stats.worker.localeCompare(b.stats.worker) || a.stats.pid - b.stats.pid);
  for (const entry of entries) {
    const s = entry.stats;
    const row = body.insertRow();
    row.dataset.worker = s.worker_id;
    cell(row, `${s.worker} (pid ${s.pid})`);
    const badge = document.createElement("span");
    if (isLost(entry)) {
      // Its last report's run and figures are no longer true: only when it was last heard.
      badge.className = "status status-failed";
      badge.textContent = "lost";
      const since = document.createElement("span");
      since.className = "muted";
      since.textContent = ` since ${new Date(s.ts * 1000).toLocaleTimeString()}`;
      cell(row, badge).append(since);
      cell(row, "—").colSpan = 6;
      continue;
    }
    badge.className = `status ${s.busy ? "status-running" : ""}`;
    badge.textContent = s.busy ? "training" : "idle";
    cell(row, badge);
    cell(row, runCell(s));
    cell(row, `${Math.round(s.cpu_percent)}%`);
    cell(row, `${Math.round(s.memory.percent)}% of ${bytes(s.memory.total)}`);
    cell(row, bytes(s.rss));
    cell(row, (s.load || []).map((x) => x.toFixed(2)).join(" "));
    cell(row, s.gpus.length ? s.gpus.map((g) =>
      `${g.name}: ${g.utilization ?? "?"}%, ${bytes(g.memory_used)} / ${bytes(g.memory_total)}`).join("; ") : "—");
  }
  if (!entries.length) cell(body.insertRow(), "No worker has reported yet.").colSpan = 8;
  $("system-state").textContent = `${entries.length} worker${entries.length === 1 ? "" : "s"}`;
}

function remember(stats, ageSeconds = 0) {
  workers.set(stats.worker_id, { stats, seenAt: Date.now() - ageSeconds * 1000 });
}

function connect(delay = 500) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}/ws/system/`);
  ws.onopen = () => { delay = 500; };
  ws.onmessage = (event) => {
    const msg = JSON.parse(event.data);
    if (msg.type === "connected") {
      msg.data.workers.forEach((w) => remember(w, w.age || 0));
    } else if (msg.type === "system") {
      remember(msg.data);
    }
    render();
  };
  ws.onclose = (event) => {
    $("system-state").textContent = `reconnecting… (${event.code})`;
    if (event.code === 4008) return;  // over a connection cap: retrying at once will not help
    setTimeout(() => connect(Math.min(delay * 2, 10000)), delay);
  };
}

async function refreshQueues() {
  try {
    const response = await fetch("/api/v1/system/", { headers: { Accept: "application/json" } });
    if (!response.ok) return;
    const { queues } = await response.json();
    for (const [name, depth] of Object.entries(queues)) {
      const td = document.querySelector(`[data-queue="${name}"]`);
      if (td) td.textContent = depth === null ? "unknown" : `${depth} waiting`;
    }
  } catch { /* offline for a moment: the next poll tries again */ }
}

initial.workers.forEach((w) => remember(w, w.age || 0));
connect();
setInterval(render, 1000);  // a worker turns "lost" even when nothing arrives
setInterval(refreshQueues, QUEUE_POLL_MS);
