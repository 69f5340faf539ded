// Scan page: follows a queued or running scan by polling its progress URL every 2 seconds,
// keeps the status text and progress bar current, announces changes to screen readers, and
// reloads the page once when the scan ends so its outcome table shows. Without JavaScript the
// page still shows the state and a reload link.
(function () {
  "use strict";

  var INTERVAL_MS = 2000;
  var ACTIVE = ["queued", "running"];

  var root = document.querySelector("[data-progress-url]");
  if (!root) {
    return;
  }
  var url = root.getAttribute("data-progress-url");
  var statusEl = root.querySelector("[data-scan-status]");
  var bar = root.querySelector("[data-scan-progress]");
  var barText = root.querySelector("[data-scan-progress-text]");
  var live = root.querySelector("[data-scan-announce]");
  if (!url || !statusEl) {
    return;
  }

  var lastStatus = statusEl.textContent.trim();
  var lastDone = null;
  if (ACTIVE.indexOf(lastStatus) === -1) {
    return;
  }
  // Reload at most once per scan and tab, even if the page and the progress answer disagree.
  var reloadKey = "scan-progress-reloaded:" + url;

  function announce(text) {
    if (live) {
      live.textContent = text;
    }
  }

  function showProgress(done, total) {
    if (bar) {
      if (total > 0) {
        bar.max = total;
        bar.value = done;
      } else {
        bar.removeAttribute("value");
      }
      bar.textContent = done + " of " + total;
    }
    if (barText) {
      barText.textContent = done + " of " + total + " jobs done";
    }
  }

  function update(data) {
    var status = String(data.status);
    var done = Number(data.progress_done) || 0;
    var total = Number(data.progress_total) || 0;
    showProgress(done, total);
    statusEl.textContent = status;
    statusEl.className = "status status-" + status;
    if (status !== lastStatus) {
      announce("Scan " + status + (data.data_quality ? ", data " + data.data_quality : "") + ".");
      lastStatus = status;
    } else if (done !== lastDone && total > 0) {
      announce(done + " of " + total + " jobs done.");
    }
    lastDone = done;
    if (ACTIVE.indexOf(status) !== -1) {
      window.setTimeout(poll, INTERVAL_MS);
      return;
    }
    var reloadNote = document.querySelector("[data-scan-reload]");
    if (reloadNote) {
      reloadNote.textContent = "The scan has ended; loading its outcomes.";
    }
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

  function poll() {
    window
      .fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("progress answered " + response.status);
        }
        return response.json();
      })
      .then(update)
      .catch(function () {
        // A network hiccup or a restart: keep following, a little less often.
        window.setTimeout(poll, INTERVAL_MS * 2);
      });
  }

  window.setTimeout(poll, INTERVAL_MS);
})();
