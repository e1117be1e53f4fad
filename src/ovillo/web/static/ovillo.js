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
  window.ovilloEvents = source;  // for the other sections' own kinds (presence)
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

// Presence: this page tells the server where the agent is every few seconds (a conversation,
// or a list), when typing in a composer starts and stops, and when the page goes away. On a
// conversation the answer is who else is there ("Ana is viewing", "Ana is typing…"), redrawn
// in #presence; a teammate's change (a "presence_changed" event naming this conversation)
// redraws it at once.
(function () {
  "use strict";
  if (!document.body || !document.body.dataset.live || !window.fetch) return;
  const line = () => document.getElementById("presence");
  const first = line();
  const conversation = first ? first.dataset.conversation : "";
  const every = 1000 * Number((first && first.dataset.heartbeat) || 10);
  const headers = {};
  try {
    const hx = JSON.parse(document.body.getAttribute("hx-headers") || "{}");
    if (hx["X-CSRF-Token"]) headers["X-CSRF-Token"] = hx["X-CSRF-Token"];
  } catch (_) { /* no token: the server refuses, nothing shows */ }
  let typing = false;
  let typingSentAt = 0;
  let idle = null;

  function redraw(html) {
    const now = line();
    if (!now || !html) return;
    const fresh = new DOMParser().parseFromString(html, "text/html").getElementById("presence");
    if (fresh) now.replaceWith(document.importNode(fresh, true));
  }

  async function report(extra) {
    const form = new FormData();
    form.set("conversation_id", conversation);
    form.set("typing", typing ? "1" : "0");
    for (const [key, value] of Object.entries(extra || {})) form.set(key, value);
    const response = await fetch("/inbox/presence", {
      method: "POST", body: form, headers, credentials: "same-origin", keepalive: true,
    });
    if (response.ok && response.status !== 204) redraw(await response.text());
  }

  function beat(extra) { report(extra).catch(() => {}); }

  async function reload() {
    const response = await fetch(`/inbox/${conversation}/presence`, { credentials: "same-origin" });
    if (response.ok) redraw(await response.text());
  }

  beat();
  setInterval(beat, every);
  if (conversation && window.ovilloEvents) {
    window.ovilloEvents.addEventListener("presence_changed", (event) => {
      let data = {};
      try { data = JSON.parse(event.data).data || {}; } catch (_) { return; }
      if (data.conversation_id === conversation || data.previous_conversation_id === conversation) {
        reload().catch(() => {});
      }
    });
  }
  document.addEventListener("input", (event) => {
    const field = event.target;
    if (!conversation || !(field instanceof HTMLTextAreaElement) || !field.closest(".composer")) return;
    clearTimeout(idle);
    idle = setTimeout(() => { typing = false; beat(); }, 4000);
    // Typing is said once when it starts and again every few seconds while it goes on.
    if (!typing || Date.now() - typingSentAt > 5000) {
      typing = true;
      typingSentAt = Date.now();
      beat();
    }
  });
  window.addEventListener("pagehide", () => { beat({ leave: "1" }); });
})();
