// GetHook Lite dashboard: the little progressive behaviour the pages have. Every page works
// without it (forms post, links navigate); with it: copy buttons, confirmations, live events.
"use strict";

// --- Live events --------------------------------------------------------------------------
// The ONE place that decides how the events page learns about new events: an EventSource on
// the session-authenticated stream (GET /events/live, the same feed as GET /v1/events/stream).
// No polling: the rows are re-read only when the stream says an event arrived or changed. The
// browser reconnects by itself and sends Last-Event-ID, so nothing is missed across a blip.
const LIVE_KINDS = ["event.received", "event.updated"];

function subscribeToEventChanges(streamUrl, onChange) {
  if (typeof window.EventSource !== "function") return () => {};
  const source = new EventSource(streamUrl);
  LIVE_KINDS.forEach((kind) => source.addEventListener(kind, onChange));
  source.addEventListener("error", () => {
    // Closed for good (refused, e.g. the session ended): one re-read of the rows says why;
    // it reloads into the sign-in form on a 401. A dropped connection reconnects by itself.
    if (source.readyState === EventSource.CLOSED) onChange();
  });
  return () => source.close();
}

// Coalesce a burst of messages into one fetch in flight and at most one after it.
function coalesced(refresh) {
  let running = false;
  let again = false;
  const run = async () => {
    if (running) { again = true; return; }
    running = true;
    try {
      do { again = false; await refresh(); } while (again);
    } finally {
      running = false;
    }
  };
  return run;
}

// Fetch a server-rendered (and escaped) fragment and swap it into `element` when it changed.
function fragmentRefresher(element, url) {
  let busy = false;
  return async () => {
    if (busy) return;
    busy = true;
    try {
      const answer = await fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } });
      if (answer.status === 401) { window.location.reload(); return; }
      if (!answer.ok) return;
      const html = await answer.text();
      if (html !== element.dataset.lastHtml) {
        element.innerHTML = html;
        element.dataset.lastHtml = html;
      }
    } catch (_) {
      // Offline or restarting: the next change tries again.
    } finally {
      busy = false;
    }
  };
}

function startLiveEvents() {
  const rows = document.getElementById("event-rows");
  if (!rows || !rows.dataset.liveUrl || !rows.dataset.streamUrl) return;
  const refresh = coalesced(fragmentRefresher(rows, rows.dataset.liveUrl));
  subscribeToEventChanges(rows.dataset.streamUrl, refresh);
}

// Export jobs in progress: refresh their rows until none is pending or running.
function startExportProgress() {
  const rows = document.getElementById("export-rows");
  if (!rows || !rows.dataset.refreshUrl) return;
  const refresh = fragmentRefresher(rows, rows.dataset.refreshUrl);
  const timer = setInterval(async () => {
    if (document.visibilityState !== "visible") return;
    await refresh();
    if (!/>(pending|running)</.test(rows.innerHTML)) clearInterval(timer);
  }, Number(rows.dataset.pollMs) || 2000);
}

// --- Copy buttons and confirmations -------------------------------------------------------
function wireCopyButtons() {
  document.querySelectorAll("button[data-copy]").forEach((button) => {
    button.addEventListener("click", async () => {
      const field = document.getElementById(button.dataset.copy);
      if (!field) return;
      field.select();
      try {
        await navigator.clipboard.writeText(field.value);
      } catch (_) {
        document.execCommand("copy");
      }
      const label = button.textContent;
      button.textContent = "Copied";
      setTimeout(() => { button.textContent = label; }, 1500);
    });
  });
}

function wireConfirmations() {
  document.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });
}

document.addEventListener("DOMContentLoaded", () => {
  wireCopyButtons();
  wireConfirmations();
  startLiveEvents();
  startExportProgress();
});
