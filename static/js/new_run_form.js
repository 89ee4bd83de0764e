// The run form: the error summary's links open a folded section and focus their field; each
// config field is marked while it differs from the chosen preset (or the defaults), as the
// server marks it on load; the form is sent once (the server also refuses a second send).
const form = document.getElementById("run-form");

const summary = document.getElementById("error-summary");
if (summary) {
  summary.focus();
  summary.addEventListener("click", (event) => {
    const link = event.target.closest("a[data-field]");
    if (!link) return;
    const input = document.getElementById(link.dataset.field);
    if (!input) return;
    event.preventDefault();
    const folded = input.closest("details");
    if (folded) folded.open = true;
    input.focus();
    input.scrollIntoView({ block: "center" });
    history.replaceState(null, "", `#${link.dataset.field}`);
  });
}

function truthy(text) {
  return ["true", "on", "1"].includes(String(text).toLowerCase());
}

function same(value, baseline, isBoolean) {
  if (isBoolean) return value === truthy(baseline);
  if (value.trim() !== "" && baseline !== "" && !Number.isNaN(Number(value)) && !Number.isNaN(Number(baseline))) {
    return Number(value) === Number(baseline);
  }
  return value === baseline;
}

const baselineName = form.querySelector("input[name=preset]").value ? "preset" : "default";

function mark(field) {
  const input = field.querySelector("input, select, textarea");
  const isBoolean = input.type === "checkbox";
  const value = isBoolean ? input.checked : input.value;
  const differs = !same(value, field.dataset.baseline, isBoolean);
  field.classList.toggle("differs", differs);
  const note = field.querySelector(".differs-note");
  if (note) note.textContent = differs ? `changed; ${baselineName}: ${field.dataset.baseline || "none"}` : "";
}

form.querySelectorAll(".field[data-baseline]").forEach((field) => {
  field.addEventListener("input", () => mark(field));
  field.addEventListener("change", () => mark(field));
});

form.addEventListener("submit", (event) => {
  if (form.dataset.sent) { event.preventDefault(); return; }
  form.dataset.sent = "1";
  const button = document.getElementById("queue-run");
  button.disabled = true;
  button.textContent = "Queueing…";
});
