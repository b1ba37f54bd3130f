// Upload files into a collection (one PUT per file, with progress), then ingest them.
(() => {
  "use strict";
  const section = document.querySelector(".upload");
  if (!section) return;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const collection = encodeURIComponent(section.dataset.collection);
  const input = document.getElementById("files");
  const drop = document.getElementById("drop");
  const start = document.getElementById("start");
  const progress = document.getElementById("progress");
  const status = document.getElementById("status");
  const words = section.dataset;
  let chosen = [];

  function line(text, failed) {
    const item = document.createElement("li");
    item.textContent = text;
    if (failed) item.className = "failed";
    status.appendChild(item);
  }

  function choose(files) {
    chosen = Array.from(files);
    status.replaceChildren();
    for (const file of chosen) line(file.name);
  }

  function put(file, done) {
    return new Promise((resolve) => {
      const request = new XMLHttpRequest();
      request.open("PUT", "/ui/collections/" + collection + "/files/" + encodeURIComponent(file.name));
      request.setRequestHeader("x-csrf-token", csrf);
      request.upload.onprogress = (event) => {
        if (event.lengthComputable) progress.value = done + event.loaded / event.total;
      };
      request.onload = () => {
        let message = "";
        try { message = JSON.parse(request.responseText).error || ""; } catch (e) { /* empty */ }
        resolve(request.status < 300 ? null : (message || String(request.status)));
      };
      request.onerror = () => resolve("network error");
      request.send(file);
    });
  }

  async function upload() {
    if (!chosen.length) chosen = Array.from(input.files);  // chosen before this script ran
    if (!chosen.length) return;
    start.disabled = true;
    status.replaceChildren();
    progress.hidden = false;
    progress.max = chosen.length + 1;
    progress.value = 0;
    let sent = 0;
    for (const [i, file] of chosen.entries()) {
      const problem = await put(file, i);
      if (problem) line(file.name + ": " + words.error + ": " + problem, true);
      else sent += 1;
      progress.value = i + 1;
    }
    if (sent) {
      const response = await fetch("/ui/collections/" + collection + "/ingest", {
        method: "POST", headers: { "x-csrf-token": csrf },
      });
      const report = await response.json();
      if (!response.ok) {
        line(words.error + ": " + (report.error || response.status), true);
      } else {
        for (const name of [...report.added, ...report.updated]) line(name + ": " + words.ingested);
        for (const name of report.unchanged) line(name + ": " + words.unchanged);
        for (const skip of report.skipped) line(skip.file + ": " + words.skipped + " (" + skip.reason + ")", true);
      }
    }
    progress.value = progress.max;
    start.disabled = false;
    chosen = [];
    input.value = "";
    const reload = document.createElement("a");
    reload.href = window.location.pathname;
    reload.textContent = "↻";
    status.appendChild(reload);
  }

  input.addEventListener("change", () => choose(input.files));
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    choose(event.dataTransfer.files);
  });
  start.addEventListener("click", upload);
})();
