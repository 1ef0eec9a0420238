// Follows a running build on its page: new log lines, step changes,
// artifacts and the end arrive over the API's Server-Sent Events stream.
// Everything is written with textContent (never as HTML). Without
// JavaScript the page reloads itself while the run goes.
(function () {
  "use strict";
  var root = document.getElementById("run");
  if (!root || root.dataset.live !== "true" || !window.EventSource) {
    return;
  }
  var log = document.getElementById("log");
  var note = document.getElementById("live-note");
  var maxLines = 5000;
  // The page holds the log up to data-log and the artifacts up to
  // data-artifact: the stream resumes after them (its event ids are
  // LOG-ARTIFACT-STEP; steps are replayed, which is harmless).
  var lastID = Number(root.dataset.log || "0");
  var url = root.dataset.events + "?lastEventId=" + encodeURIComponent(lastID + "-" + Number(root.dataset.artifact || "0") + "-0");
  var es = new EventSource(url, { withCredentials: true });

  function parse(e) {
    try { return JSON.parse(e.data); } catch (err) { return null; }
  }
  function atBottom() {
    return window.innerHeight + window.scrollY >= document.body.scrollHeight - 40;
  }
  function lower(s) { return String(s || "").toLowerCase(); }

  es.addEventListener("log", function (e) {
    var d = parse(e);
    if (!d) { return; }
    var id = Number(d.id || e.lastEventId || 0);
    if (id && id <= lastID) { return; } // already on the page
    if (id) { lastID = id; }
    var follow = atBottom();
    var span = document.createElement("span");
    span.className = "line level-" + lower(d.level).replace(/[^a-z]/g, "");
    span.dataset.id = String(id);
    span.textContent = "[" + (d.step || "") + "] " + (d.message || "") + "\n";
    log.appendChild(span);
    while (log.childNodes.length > maxLines) { log.removeChild(log.firstChild); }
    if (follow) { window.scrollTo(0, document.body.scrollHeight); }
  });

  es.addEventListener("step", function (e) {
    var d = parse(e);
    if (!d || !d.step) { return; }
    var li = document.getElementById("step-" + d.step);
    if (li) {
      var st = lower(d.status).replace(/[^a-z_]/g, "");
      li.className = "step step-" + st;
      li.querySelector(".step-status").textContent = st;
      if (d.durationMs !== undefined && d.durationMs !== null && st !== "running") {
        li.querySelector(".duration").textContent = (Number(d.durationMs) / 1000).toFixed(1) + "s";
      }
    }
  });

  es.addEventListener("status", function (e) {
    var d = parse(e);
    if (!d) { return; }
    if (d.status) { setStatus(d.status); }
    if (d.step) {
      var li = document.getElementById("step-" + d.step);
      document.getElementById("step").textContent = li ? li.querySelector(".title").textContent : String(d.step);
    }
  });

  es.addEventListener("artifact", function (e) {
    var d = parse(e);
    if (!d || !d.name) { return; }
    var body = document.querySelector("#artifacts tbody");
    var rows = body.querySelectorAll("tr[data-name]");
    for (var i = 0; i < rows.length; i++) {
      if (rows[i].dataset.name === String(d.name)) { return; } // already listed
    }
    var none = body.querySelector("tr.none");
    if (none) { body.removeChild(none); }
    var tr = document.createElement("tr");
    tr.dataset.name = String(d.name);
    var name = document.createElement("td");
    var href = sameOrigin(d.url);
    if (href) {
      var a = document.createElement("a");
      a.href = href;
      a.textContent = d.name;
      name.appendChild(a);
    } else {
      name.textContent = d.name;
    }
    tr.appendChild(name);
    [d.type, bytes(Number(d.size || 0)), d.sha256].forEach(function (v) {
      var td = document.createElement("td");
      td.textContent = v || "";
      tr.appendChild(td);
    });
    body.appendChild(tr);
  });

  es.addEventListener("end", function (e) {
    var d = parse(e) || {};
    es.close();
    if (d.status) { setStatus(d.status); }
    document.getElementById("step").textContent = finals[d.step] || String(d.step || "");
    note.textContent = "The run is over.";
  });

  es.onerror = function () {
    if (es.readyState === EventSource.CLOSED) {
      note.textContent = "Live updates stopped. Reload the page to see the run's progress.";
    }
  };

  var finals = { COMPLETE: "Complete", FAILED: "Failed", CANCELLED: "Cancelled" };

  // bytes formats n as the page does (IEC units, one decimal).
  function bytes(n) {
    var units = ["B", "KiB", "MiB", "GiB", "TiB"];
    var i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? String(n) : n.toFixed(1)) + " " + units[i];
  }

  // sameOrigin is u when it is a link to this server (the API's download
  // route), else null: the stream's data never sends the browser elsewhere.
  function sameOrigin(u) {
    if (!u) { return null; }
    try {
      var parsed = new URL(String(u), window.location.href);
      return parsed.origin === window.location.origin ? parsed.href : null;
    } catch (err) { return null; }
  }

  function setStatus(s) {
    var el = document.getElementById("status");
    el.textContent = lower(s);
    el.className = "status status-" + lower(s).replace(/[^a-z_]/g, "");
  }
})();
