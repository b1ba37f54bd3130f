// Upload files into a collection (one PUT per file, with progress), then ingest them.
(() => {
  "use strict";
  const section = document.querySelector(".upload");
  if (!section) return;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const collection = encodeURIComponent(section.dataset.collection);
  const input = document.getElementById("files");
  const folder = document.getElementById("folder");
  const MAX_FILES = 500;
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

  // each chosen file with the path it gets in the collection (inside a folder: its path)
  function choose(entries) {
    chosen = entries.slice(0, MAX_FILES);
    status.replaceChildren();
    for (const entry of chosen) line(entry.path);
  }

  function fromInput(files) {
    return Array.from(files).map((file) => ({ file, path: file.webkitRelativePath || file.name }));
  }

  async function fromDrop(items) {
    const found = [];
    async function walk(entry, prefix) {
      if (found.length >= MAX_FILES) return;
      if (entry.isFile) {
        const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
        found.push({ file, path: prefix + file.name });
      } else if (entry.isDirectory) {
        const reader = entry.createReader();
        for (;;) {
          const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
          if (!batch.length) break;
          for (const child of batch) await walk(child, prefix + entry.name + "/");
        }
      }
    }
    const entries = Array.from(items).map((item) => item.webkitGetAsEntry && item.webkitGetAsEntry());
    for (const entry of entries) if (entry) await walk(entry, "");
    return found;
  }

  function put(entry, done) {
    const file = entry.file;
    const path = entry.path.split("/").map(encodeURIComponent).join("/");
    return new Promise((resolve) => {
      const request = new XMLHttpRequest();
      request.open("PUT", "/ui/collections/" + collection + "/files/" + path);
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
    if (!chosen.length) chosen = fromInput(input.files);  // chosen before this script ran
    if (!chosen.length) return;
    start.disabled = true;
    status.replaceChildren();
    progress.hidden = false;
    progress.max = chosen.length + 1;
    progress.value = 0;
    let sent = 0;
    for (const [i, entry] of chosen.entries()) {
      const problem = await put(entry, i);
      if (problem) line(entry.path + ": " + words.error + ": " + problem, true);
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
    if (folder) folder.value = "";
    const reload = document.createElement("a");
    reload.href = window.location.pathname;
    reload.textContent = "↻";
    status.appendChild(reload);
  }

  input.addEventListener("change", () => choose(fromInput(input.files)));
  if (folder) folder.addEventListener("change", () => choose(fromInput(folder.files)));
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", async (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    const items = event.dataTransfer.items;
    choose(items && items.length ? await fromDrop(items) : fromInput(event.dataTransfer.files));
  });
  start.addEventListener("click", upload);
})();
