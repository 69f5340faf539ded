// Security checklist page: while a run is queued or running, fetches this page again every 2
// seconds and shows the run's progress section as the server rendered it (queued, running, N of
// M items evaluated), announcing changes to screen readers; once the run has ended, reloads the
// page once so its results show. Without JavaScript the page shows the state it was loaded with
// and a reload link.
(function () {
  "use strict";

  var INTERVAL_MS = 2000;
  var ACTIVE = ["queued", "running"];
  var SECTION = "[data-checklist-progress]";

  var root = document.querySelector(SECTION);
  if (!root) {
    return;
  }
  var runId = root.getAttribute("data-run-id");
  var lastStatus = root.getAttribute("data-run-status");
  var lastDone = root.getAttribute("data-items-done");
  if (ACTIVE.indexOf(lastStatus) === -1) {
    return;
  }
  var live = document.querySelector("[data-checklist-announce]");
  // Reload at most once per run and tab, even if the page and the fetched copy disagree.
  var reloadKey = "checklist-progress-reloaded:" + runId;

  function announce(text) {
    if (live) {
      live.textContent = text;
    }
  }

  function reloadOnce() {
    var reloaded = false;
    try {
      reloaded = window.sessionStorage.getItem(reloadKey) === "1";
      window.sessionStorage.setItem(reloadKey, "1");
    } catch (error) {
      reloaded = false;
    }
    if (!reloaded) {
      window.location.reload();
    }
  }

  function update(html) {
    var fresh = new DOMParser().parseFromString(html, "text/html").querySelector(SECTION);
    if (!fresh || fresh.getAttribute("data-run-id") !== runId) {
      // The run finished (its results replace the progress section) or another run started.
      announce("The checklist run has ended; loading its results.");
      reloadOnce();
      return;
    }
    var status = fresh.getAttribute("data-run-status");
    var done = fresh.getAttribute("data-items-done");
    var total = fresh.getAttribute("data-items-total");
    // The server's own rendering of the section, from this origin: text is escaped there.
    root.replaceChildren.apply(root, Array.prototype.slice.call(fresh.childNodes));
    root.setAttribute("data-run-status", status);
    root.setAttribute("data-items-done", done);
    if (status !== lastStatus) {
      announce("Checklist run " + status + ".");
    } else if (done !== lastDone) {
      announce(done + " of " + total + " items evaluated.");
    }
    lastStatus = status;
    lastDone = done;
    if (ACTIVE.indexOf(status) !== -1) {
      window.setTimeout(poll, INTERVAL_MS);
      return;
    }
    reloadOnce();
  }

  function poll() {
    window
      .fetch(window.location.pathname, {
        headers: { Accept: "text/html" },
        credentials: "same-origin",
      })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("the page answered " + response.status);
        }
        return response.text();
      })
      .then(update)
      .catch(function () {
        // A network hiccup or a restart: keep following, a little less often.
        window.setTimeout(poll, INTERVAL_MS * 2);
      });
  }

  window.setTimeout(poll, INTERVAL_MS);
})();
