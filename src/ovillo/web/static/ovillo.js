// Live pages: follow the workspace's events (Server-Sent Events) and refresh, in place, the
// parts of the page that show them: the conversation list, the thread and its header. The
// composer is never replaced, so a half-written answer stays as it is.
(function () {
  "use strict";
  const stream = document.body && document.body.dataset.live;
  if (!stream || !window.EventSource || !window.DOMParser) return;
  const regions = ["conversation-list-region", "conversation-meta", "thread"];
  const kinds = [
    "message_created", "message_status", "conversation_updated", "note_added",
    "contact_updated", "resync",
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
