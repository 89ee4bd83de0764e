// A server-rendered part of a page (an element with an id and a data-url), fetched again and
// swapped in. The returned soon() asks for it at most once a second, however many changes call
// it; a failed fetch leaves the page as it is and the next call tries again. keep(current,
// fresh) may carry state over before the swap (ticked boxes).
export function fragmentRefresher(id, keep = () => {}) {
  let timer = null;
  return function soon() {
    if (timer !== null) return;
    timer = setTimeout(async () => {
      timer = null;
      const current = document.getElementById(id);
      try {
        const response = await fetch(current.dataset.url, { credentials: "same-origin" });
        if (!response.ok) return;
        const holder = document.createElement("div");
        holder.innerHTML = await response.text();
        const fresh = holder.querySelector(`#${id}`);
        if (!fresh) return;
        keep(current, fresh);
        current.replaceWith(fresh);
      } catch {
        // offline for a moment: the next call tries again
      }
    }, 1000);
  };
}
