// The runs list over /ws/runs/: a run's status, step and progress change in place (its ETA and
// sparkline when the table comes in again); a run that is not in the table yet (queued
// elsewhere: the API, the CLI, another tab) brings the table in again from the server. The
// page is complete without JavaScript; this keeps it current.
import { fragmentRefresher } from "./fragment.js";
import { LiveSocket } from "./live_socket.js";

const $ = (id) => document.getElementById(id);
// Runs ticked for a comparison stay ticked when the table comes in again.
const refreshSoon = fragmentRefresher("runs-table", (current, fresh) => {
  const ticked = new Set([...current.querySelectorAll("input[name=runs]:checked")].map((b) => b.value));
  fresh.querySelectorAll("input[name=runs]").forEach((b) => { b.checked = ticked.has(b.value); });
});

function row(runId) {
  return document.querySelector(`#runs-table tr[data-run="${runId}"]`);
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
    const step = tr.querySelector("td.step");
    if (step) {
      step.textContent = String(msg.data.step);
      if (msg.data.total) {
        const total = document.createElement("span");
        total.className = "muted";
        total.textContent = ` / ${msg.data.total}`;
        step.append(total);
      }
    }
  }
}

new LiveSocket("/ws/runs/", onMessage, (state) => { $("live-state").textContent = state === "live" ? "" : state; },
  { resume: false }).open();
