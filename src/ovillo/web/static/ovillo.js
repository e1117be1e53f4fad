// Live pages: follow the workspace's events (Server-Sent Events) and refresh, in place, the
// parts of the page that show them: the conversation list, the thread and its header, and
// any element marked `data-live-region` (the templates' status badges). The
// composer is never replaced, so a half-written answer stays as it is.
(function () {
  "use strict";
  const stream = document.body && document.body.dataset.live;
  if (!stream || !window.EventSource || !window.DOMParser) return;
  const regions = ["conversation-list-region", "conversation-meta", "thread"];
  const kinds = [
    "message_created", "message_status", "conversation_updated", "note_added",
    "contact_updated", "template_updated", "resync",
  ];
  let pending = null;
  let again = false;

  async function refresh() {
    pending = null;
    const response = await fetch(window.location.href, {
      headers: { "Accept": "text/html" }, credentials: "same-origin",
    });
    if (!response.ok) return;
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
    for (const id of regions) {
      const now = document.getElementById(id);
      const next = fresh.getElementById(id);
      if (now && next) now.replaceWith(document.importNode(next, true));
    }
    // Smaller regions, such as a template's status badge, replaced without touching the
    // forms beside them.
    for (const now of document.querySelectorAll("[data-live-region][id]")) {
      const next = fresh.getElementById(now.id);
      if (next) now.replaceWith(document.importNode(next, true));
    }
    // The window opened (the customer wrote) or closed: the composer changes with it, from
    // templates only to free text or back; otherwise it is left alone.
    const composer = document.querySelector(".composer");
    const nextComposer = fresh.querySelector(".composer");
    const closed = (doc) => Boolean(doc.getElementById("window-closed"));
    if (composer && nextComposer && closed(document) !== closed(fresh)) {
      composer.replaceWith(document.importNode(nextComposer, true));
      document.dispatchEvent(new Event("ovillo:composer"));
    }
    document.body.dataset.liveRefreshed = String(Date.now());
    if (again) { again = false; schedule(); }
  }

  function schedule() {
    // Events come in bursts (a message, then its statuses): one refresh per 150 ms.
    if (pending) { again = true; return; }
    pending = setTimeout(() => { refresh().catch(() => {}); }, 150);
  }

  const source = new EventSource(stream);
  for (const kind of kinds) source.addEventListener(kind, schedule);
  source.addEventListener("open", () => { document.body.dataset.liveConnected = "true"; });
})();

// The conversation's composer: the 24-hour window's countdown (in the server's time: the
// offset to this browser's clock is taken once per page), a reload when it reaches zero (the
// composer then offers templates), and the template preview filled as the agent types. Bound
// again when the live refresh swaps the composer ("ovillo:composer").
(function () {
  "use strict";

  function countDown(countdown) {
    const closesAt = Date.parse(countdown.dataset.closesAt);
    const offset = Date.parse(countdown.dataset.now) - Date.now();
    const format = countdown.dataset.format;
    let timer = null;
    const tick = () => {
      if (!countdown.isConnected) { clearInterval(timer); return; }
      const left = closesAt - (Date.now() + offset);
      if (left <= 0) { clearInterval(timer); window.location.reload(); return; }
      const minutes = Math.floor(left / 60000);
      countdown.textContent = format
        .replace("{h}", String(Math.floor(minutes / 60)))
        .replace("{m}", String(minutes % 60));
      countdown.dataset.ticked = "true";
    };
    tick();
    timer = setInterval(tick, 15000);
  }

  function bind() {
    const countdown = document.getElementById("window-countdown");
    if (countdown) countDown(countdown);
    for (const select of document.querySelectorAll("select[data-autosubmit]")) {
      select.addEventListener("change", () => { if (select.value) select.form.submit(); });
    }
    for (const input of document.querySelectorAll("input[data-variable]")) {
      input.addEventListener("input", () => {
        for (const part of document.querySelectorAll("[data-fills]")) {
          if (part.dataset.fills === input.dataset.variable) {
            part.textContent = input.value || part.dataset.empty;
          }
        }
      });
    }
  }

  bind();
  document.addEventListener("ovillo:composer", bind);
})();
