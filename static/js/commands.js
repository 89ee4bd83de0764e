// Commands from a page without reloading it: a confirmation step for the ones that end or cost
// something, and the form sent by fetch (the view answers JSON when asked for it).

// Ask in the <dialog>; resolves true only when the user chose "confirm" (Escape, the other
// button or closing the dialog all mean no). Keyboard: the dialog takes focus, Tab moves
// between the buttons, Enter chooses, Escape cancels.
export function confirmStep(dialog, text) {
  if (!dialog?.showModal) return Promise.resolve(window.confirm(text));
  dialog.querySelector("#confirm-text").textContent = text;
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "confirm"), { once: true });
    dialog.showModal();
  });
}

// POST the form (with the pressed button's name and value); the answer's message or error.
export async function sendForm(form, button) {
  const body = new FormData(form);
  if (button?.name) body.set(button.name, button.value);
  try {
    const response = await fetch(form.action, {
      method: "POST", body, credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRFToken": body.get("csrfmiddlewaretoken") },
    });
    const answer = await response.json().catch(() => ({}));
    return answer.message || answer.error || `refused (${response.status})`;
  } catch {
    return "Not sent: the site cannot be reached. Try again.";
  }
}
