// The chat page: sends the conversation to /ui/chat and shows the streamed answer.
// Text from the server is only ever set with textContent, never parsed as HTML.
(() => {
  "use strict";
  const section = document.querySelector(".chat");
  const form = document.getElementById("ask");
  if (!section || !form) return;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const list = document.getElementById("conversation");
  const question = document.getElementById("question");
  const model = document.getElementById("model");
  const send = document.getElementById("send");
  const stop = document.getElementById("stop");
  const words = section.dataset;
  let history = JSON.parse(document.getElementById("history").textContent);
  let conversation = section.dataset.conversation || null;
  let controller = null;

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function bubble(role, text) {
    const item = element("li", "message " + role);
    item.appendChild(element("div", "body", text));
    list.appendChild(item);
    item.scrollIntoView({ block: "end" });
    return item;
  }

  function parse(raw) {
    let name = "message";
    const data = [];
    for (const line of raw.split("\n")) {
      if (line.startsWith("event: ")) name = line.slice(7);
      else if (line.startsWith("data: ")) data.push(line.slice(6));
    }
    if (!data.length) return null;
    return { name, data: JSON.parse(data.join("\n")) };
  }

  function showError(item, message) {
    item.classList.add("failed");
    item.appendChild(element("p", "error", words.error + ": " + message));
  }

  async function failure(response) {  // what a refused request says
    let message = response.status + " " + response.statusText;
    try { message = (await response.json()).error || message; } catch (e) { /* not JSON */ }
    return message;
  }

  function sourceEntry(c) {  // a source's link and its verbatim quote
    const entry = element("li");
    const link = element("a", "source", c.source);
    link.href = c.href;
    entry.append(link, element("q", "quote", c.quote));
    return entry;
  }

  function finish(item, body, data) {
    if (data.abstained === true) {
      item.classList.add("abstained");
      item.insertBefore(element("p", "badge", words.abstained), body);
    }
    const related = data.related || [];
    if (related.length) {  // not sure enough to answer: where to look, as links
      body.textContent = data.answer;
      const closest = element("ol", "sources closest");
      closest.setAttribute("aria-label", words.closest);
      for (const c of related) closest.appendChild(sourceEntry(c));
      item.append(element("p", "closest-heading", words.closest + ":"), closest);
    }
    const citations = data.citations || [];
    if (!citations.length) return;
    body.textContent = data.answer;
    const sources = element("ol", "sources");
    sources.setAttribute("aria-label", words.sources);
    for (const c of citations) {
      const marker = element("a", "cite", "[" + c.n + "]");
      marker.href = c.href;
      marker.title = c.quote;
      marker.dataset.quote = c.quote;
      body.append(" ", marker);
      sources.appendChild(sourceEntry(c));
    }
    item.appendChild(sources);
  }

  function actions(item, text) {
    const bar = element("div", "actions");
    const copy = element("button", "copy", words.copy);
    copy.type = "button";
    copy.addEventListener("click", () => navigator.clipboard && navigator.clipboard.writeText(text));
    const again = element("button", "regenerate", words.regenerate);
    again.type = "button";
    again.addEventListener("click", () => {
      if (controller) return;
      if (history.length && history[history.length - 1].role === "assistant") history.pop();
      item.remove();
      answer();
    });
    bar.append(copy, again);
    item.appendChild(bar);
  }

  // Rating an answer good or bad (again: taken back); the good ones can become training data.
  function rating(item, ordinal, current) {
    const bar = element("div", "rating");
    const buttons = [["good", "👍", words.rateGood], ["bad", "👎", words.rateBad]].map(
      ([value, sign, label]) => {
        const button = element("button", "rate-" + value, sign);
        button.type = "button";
        button.title = label;
        button.setAttribute("aria-label", label);
        button.setAttribute("aria-pressed", String(current === value));
        button.addEventListener("click", async () => {
          const wanted = button.getAttribute("aria-pressed") === "true" ? "none" : value;
          const url = "/ui/conversations/" + encodeURIComponent(conversation) + "/messages/"
            + ordinal + "/rating";
          const response = await fetch(url, {
            method: "POST",
            headers: { "content-type": "application/json", "x-csrf-token": csrf },
            body: JSON.stringify({ rating: wanted }),
          });
          const note = bar.querySelector(".error");
          if (note) note.remove();
          if (!response.ok) {
            bar.appendChild(element("span", "error", words.error + ": " + await failure(response)));
            return;
          }
          for (const other of buttons) {
            other.setAttribute("aria-pressed", String(other === button && wanted !== "none"));
          }
        });
        return button;
      });
    bar.append(...buttons);
    item.appendChild(bar);
  }

  async function answer() {
    const item = bubble("assistant", "");
    item.classList.add("pending");
    const body = item.querySelector(".body");
    controller = new AbortController();
    send.disabled = true;
    stop.hidden = false;
    let text = "";
    let complete = false;
    let ordinal = null;
    try {
      const response = await fetch("/ui/chat", {
        method: "POST",
        headers: { "content-type": "application/json", "x-csrf-token": csrf },
        body: JSON.stringify({ model: model.value, messages: history, conversation }),
        signal: controller.signal,
      });
      if (!response.ok) {
        showError(item, await failure(response));
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
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const event = parse(buffer.slice(0, cut));
          buffer = buffer.slice(cut + 2);
          if (!event) continue;
          if (event.name === "conversation") {
            if (conversation !== event.data.id) {
              conversation = event.data.id;
              const href = "/ui/chat?c=" + encodeURIComponent(conversation);
              window.history.replaceState(null, "", href);
              const listed = document.querySelector(".history ol");
              if (listed) {
                const entry = element("li");
                entry.setAttribute("aria-current", "page");
                const link = element("a", "", history[0] ? history[0].content.slice(0, 80) : "…");
                link.href = href;
                entry.appendChild(link);
                listed.prepend(entry);
              }
            }
          } else if (event.name === "delta") {
            text += event.data.text;
            body.textContent = text;
          } else if (event.name === "done") {
            finish(item, body, event.data);
            ordinal = event.data.ordinal;
            if (typeof event.data.content === "string") text = event.data.content;
            complete = true;
          } else if (event.name === "error") {
            showError(item, event.data.message);
          }
        }
      }
    } catch (error) {
      if (error.name === "AbortError") item.classList.add("stopped");
      else showError(item, String(error));
    } finally {
      item.classList.remove("pending");
      send.disabled = false;
      stop.hidden = true;
      controller = null;
    }
    if (complete) {
      history.push({ role: "assistant", content: text });
      if (ordinal !== null && ordinal !== undefined) rating(item, ordinal, "none");
      actions(item, body.textContent);
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const asked = question.value.trim();
    if (!asked || controller) return;
    history.push({ role: "user", content: asked });
    bubble("user", asked);
    question.value = "";
    answer();
  });
  question.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  stop.addEventListener("click", () => controller && controller.abort());
  const answered = list.querySelectorAll(".message.assistant");
  for (const item of answered) rating(item, Number(item.dataset.ordinal), item.dataset.rating);
  if (answered.length) {
    const last = answered[answered.length - 1];
    actions(last, last.querySelector(".body").textContent);
  }
})();
