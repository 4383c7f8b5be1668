// GetHook Lite dashboard: the little progressive behaviour the pages have. Every page works
// without it (forms post, links navigate); with it: copy buttons, confirmations, live events.
"use strict";

// --- Live events --------------------------------------------------------------------------
// The ONE place that decides how the events page learns about new events. Today it polls the
// rows fragment (GET /events/rows?<filters>) while the tab is visible. When the event stream
// (GET /v1/events/stream, server-sent events) exists, replace the body of this function with an
// EventSource on a session-authenticated stream and call onChange() on each message; nothing
// else on the page needs to change.
function subscribeToEventChanges(url, intervalMs, onChange) {
  let timer = null;
  const tick = () => { if (document.visibilityState === "visible") onChange(); };
  const start = () => { if (timer === null) timer = setInterval(tick, intervalMs); };
  const stop = () => { if (timer !== null) { clearInterval(timer); timer = null; } };
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") { tick(); start(); } else { stop(); }
  });
  start();
  return stop;
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
      // Offline or restarting: try again on the next tick.
    } finally {
      busy = false;
    }
  };
}

function startLiveEvents() {
  const rows = document.getElementById("event-rows");
  if (!rows || !rows.dataset.liveUrl) return;
  const url = rows.dataset.liveUrl;
  subscribeToEventChanges(url, Number(rows.dataset.pollMs) || 3000, fragmentRefresher(rows, url));
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
