// Pull a model with a progress bar: reads the server's NDJSON progress lines.
(() => {
  "use strict";
  const form = document.getElementById("pull");
  if (!form) return;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const bar = document.getElementById("pull-progress");
  const status = document.getElementById("pull-status");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const source = document.getElementById("source").value.trim();
    if (!source) return;
    bar.hidden = false;
    bar.removeAttribute("value");
    status.textContent = "…";
    const response = await fetch("/ui/admin/models/pull", {
      method: "POST",
      headers: { "content-type": "application/json", "x-csrf-token": csrf },
      body: JSON.stringify({ source }),
    });
    if (!response.ok) {
      let message = String(response.status);
      try { message = (await response.json()).error || message; } catch (e) { /* not JSON */ }
      status.textContent = message;
      bar.hidden = true;
      return;
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n")) >= 0) {
        const line = JSON.parse(buffer.slice(0, cut));
        buffer = buffer.slice(cut + 1);
        if (line.error) {
          status.textContent = line.error;
        } else if (line.status === "downloading" && line.total) {
          bar.max = line.total;
          bar.value = line.completed;
          status.textContent = Math.round(100 * line.completed / line.total) + " %";
        } else if (line.status === "success") {
          bar.max = 1;
          bar.value = 1;
          status.textContent = "✓ " + source;
          const reload = document.createElement("a");
          reload.href = window.location.pathname;
          reload.textContent = " ↻";
          status.appendChild(reload);
        } else if (line.status) {
          status.textContent = line.status;
        }
      }
    }
  });
})();
