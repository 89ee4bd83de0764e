// The runs list over /ws/runs/: a run's status and progress change in place; a run that is
// not in the table yet (queued elsewhere: the API, the CLI, another tab) brings the table in
// again from the server. The page is complete without JavaScript; this keeps it current.
import { LiveSocket } from "./live_socket.js";

const $ = (id) => document.getElementById(id);
let refreshTimer = null;

function row(runId) {
  return document.querySelector(`#runs-table tr[data-run="${runId}"]`);
}

// At most once a second, whatever the number of runs changing at once.
function refreshSoon() {
  if (refreshTimer !== null) return;
  refreshTimer = setTimeout(async () => {
    refreshTimer = null;
    const current = $("runs-table");
    try {
      const response = await fetch(current.dataset.url, { credentials: "same-origin" });
      if (!response.ok) return;  // the next change tries again
      const fresh = document.createElement("div");
      fresh.innerHTML = await response.text();
      const replacement = fresh.querySelector("#runs-table");
      if (!replacement) return;
      // Runs ticked for a comparison stay ticked.
      const ticked = new Set([...current.querySelectorAll("input[name=runs]:checked")].map((b) => b.value));
      replacement.querySelectorAll("input[name=runs]").forEach((b) => { b.checked = ticked.has(b.value); });
      current.replaceWith(replacement);
    } catch {
      // offline for a moment: the next change tries again
    }
  }, 1000);
}

let connections = 0;

function onMessage(msg) {
  if (msg.type === "connected") {
    // After a dropped socket, what changed meanwhile was not sent: ask for the table again.
    if (++connections > 1) refreshSoon();
    return;
  }
  const tr = msg.run === null ? null : row(msg.run);
  if (msg.type === "status") {
    if (!tr) { refreshSoon(); return; }
    const badge = tr.querySelector(".status");
    badge.textContent = msg.data.status;
    badge.className = `status status-${msg.data.status}`;
    if (msg.data.status === "completed") tr.querySelector("progress").value = 1;
  } else if (msg.type === "progress" && tr) {
    tr.querySelector("progress").value = msg.data.progress;
  }
}

new LiveSocket("/ws/runs/", onMessage, (state) => { $("live-state").textContent = state === "live" ? "" : state; },
  { resume: false }).open();
