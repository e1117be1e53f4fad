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
    // forms beside them; one the agent is typing in (the contact panel's) is left as it is.
    for (const now of document.querySelectorAll("[data-live-region][id]")) {
      const next = fresh.getElementById(now.id);
      if (next && !now.contains(document.activeElement)) {
        now.replaceWith(document.importNode(next, true));
      }
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
  // This page's own id: its goodbye then clears only what it reported, not the report of
  // the next page, which may arrive first (a form's post reloads the same conversation).
  const page = Date.now().toString(36) + Math.random().toString(36).slice(2);
  let typing = false;
  let typingSentAt = 0;
  let idle = null;

  function redraw(html) {
    const now = line();
    if (!now || !html) return;
    const fresh = new DOMParser().parseFromString(html, "text/html").getElementById("presence");
    // The live region stays and only its words change, and only when they do: a screen
    // reader then says "Ana is typing…" once, not at every heartbeat.
    if (fresh && now.innerHTML !== fresh.innerHTML) {
      now.replaceChildren(...Array.from(fresh.childNodes, (node) => document.importNode(node, true)));
    }
  }

  async function report(extra) {
    const form = new FormData();
    form.set("conversation_id", conversation);
    form.set("typing", typing ? "1" : "0");
    form.set("page", page);
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

// The composer's tools: emoji and quick replies inserted at the caret, "/shortcut" + Tab (or
// space) expanded to its quick reply, "Reply" on a bubble quoting that message, and the
// contact panel folded on a phone. Clicks are delegated from the document, so the parts the
// live refresh replaces (the thread) keep working.
(function () {
  "use strict";

  function insertAt(field, text) {
    const start = field.selectionStart ?? field.value.length;
    const end = field.selectionEnd ?? start;
    field.setRangeText(text, start, end, "end");
    field.dispatchEvent(new Event("input", { bubbles: true }));
    field.focus();
  }

  function quickReplies() {
    const data = document.getElementById("quick-reply-map");
    try { return data ? JSON.parse(data.textContent) : {}; } catch (_) { return {}; }
  }

  // What the agent is typing after "/" (at the caret), or null.
  function typedShortcut(field) {
    const match = /(?:^|\s)\/([a-z0-9_-]*)$/i.exec(field.value.slice(0, field.selectionStart));
    return match ? match[1].toLowerCase() : null;
  }

  // "/" then letters: the quick replies whose shortcut starts so, to click (or Tab).
  function suggest(field) {
    const list = document.getElementById("quick-reply-suggestions");
    if (!list) return;
    const typed = typedShortcut(field);
    const found = typed === null ? [] : Object.entries(quickReplies())
      .filter(([shortcut]) => shortcut.startsWith(typed)).slice(0, 6);
    list.replaceChildren(...found.map(([shortcut, text]) => {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "link";
      button.dataset.insert = text;
      button.dataset.replaces = String(typed.length + 1);
      button.textContent = "/" + shortcut;
      const preview = document.createElement("span");
      preview.className = "muted";
      preview.textContent = " " + (text.length > 80 ? text.slice(0, 79) + "…" : text);
      item.append(button, preview);
      return item;
    }));
    list.hidden = found.length === 0;
  }

  document.addEventListener("input", (event) => {
    if (event.target instanceof HTMLTextAreaElement && event.target.id === "message-body") {
      suggest(event.target);
    }
  });

  document.addEventListener("click", (event) => {
    const target = event.target instanceof Element ? event.target : null;
    const inserting = target && target.closest("[data-insert]");
    const body = document.getElementById("message-body");
    if (inserting && body) {
      const replaces = Number(inserting.dataset.replaces || 0);
      if (replaces) body.setSelectionRange(body.selectionStart - replaces, body.selectionStart);
      insertAt(body, inserting.dataset.insert);
      const popover = inserting.closest("details.popover");
      if (popover && !inserting.classList.contains("emoji")) popover.open = false;
      return;
    }
    const reply = target && target.closest("[data-reply-to]");
    const box = document.getElementById("replying-to");
    if (reply && box && body) {
      event.preventDefault();
      document.getElementById("reply-to").value = reply.dataset.replyTo;
      document.getElementById("replying-quote").textContent = reply.dataset.quote;
      box.hidden = false;
      body.focus();
      return;
    }
    if (target && target.id === "cancel-reply" && box) {
      event.preventDefault();
      document.getElementById("reply-to").value = "";
      document.getElementById("replying-quote").textContent = "";
      box.hidden = true;
      if (body) body.focus();
    }
  });

  document.addEventListener("keydown", (event) => {
    const field = event.target;
    if (!(field instanceof HTMLTextAreaElement) || field.id !== "message-body") return;
    if (event.key !== "Tab" && event.key !== " ") return;
    const typed = typedShortcut(field);
    const text = typed && quickReplies()[typed];
    if (!text) return;
    event.preventDefault();
    field.setSelectionRange(field.selectionStart - typed.length - 1, field.selectionStart);
    insertAt(field, text);
  });

  const panel = document.getElementById("contact-panel-details");
  if (panel && window.matchMedia && window.matchMedia("(max-width: 760px)").matches) {
    panel.open = false;
  }
  const freeEntry = document.getElementById("free-entry");
  if (freeEntry && freeEntry.dataset.closesAt) {
    const closesAt = Date.parse(freeEntry.dataset.closesAt);
    const offset = Date.parse(freeEntry.dataset.now) - Date.now();
    const tick = () => {
      const left = Math.max(0, closesAt - (Date.now() + offset));
      const minutes = Math.floor(left / 60000);
      freeEntry.textContent = freeEntry.dataset.format
        .replace("{h}", String(Math.floor(minutes / 60))).replace("{m}", String(minutes % 60));
    };
    setInterval(tick, 30000);
  }
})();

// Keyboard shortcuts for the inbox ("?" shows them): never while typing in a field, except
// Esc (leave it) and Ctrl/Cmd+Enter (send its form).
(function () {
  "use strict";
  const help = document.getElementById("shortcuts-help");
  if (!help) return;

  function typing(element) {
    return element instanceof HTMLElement &&
      (element.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(element.tagName));
  }

  function go(step) {
    const links = Array.from(document.querySelectorAll("#conversation-list a"));
    if (!links.length) return;
    const current = links.findIndex((link) => link.getAttribute("aria-current") === "page");
    const next = current < 0 ? (step > 0 ? 0 : links.length - 1) : current + step;
    if (next >= 0 && next < links.length) window.location.assign(links[next].href);
  }

  function submit(selector) {
    const input = document.querySelector(selector);
    if (input && input.form) input.form.requestSubmit();
  }

  function focus(id) {
    const field = document.getElementById(id);
    if (!field) return false;
    field.focus();
    return true;
  }

  document.addEventListener("keydown", (event) => {
    const target = event.target;
    if (typing(target)) {
      if (event.key === "Escape") { target.blur(); event.preventDefault(); }
      else if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && target.form) {
        event.preventDefault();
        target.form.requestSubmit();
      }
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || help.open) return;
    const actions = {
      "?": () => help.showModal(),
      "j": () => go(1),
      "k": () => go(-1),
      "r": () => focus("message-body"),
      "Enter": () => focus("message-body"),
      "n": () => focus("note-body"),
      "e": () => submit('form[action$="/status"] input[name="status"][value="closed"]'),
      "a": () => submit('form[action$="/assignee"] input[type="hidden"][name="user_id"]'),
      "/": () => { if (!focus("search-q")) window.location.assign("/inbox/search"); },
    };
    const action = actions[event.key];
    // Enter on a link or a button keeps its own meaning.
    if (!action || (event.key === "Enter" && target instanceof HTMLElement &&
      target.closest("a, button, summary"))) return;
    event.preventDefault();
    action();
  });
})();
