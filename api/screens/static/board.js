// The hall board follows its stream (ADR 0054): each "board" event carries the board's
// parts drawn on the server, put in place of the old ones (so the page holds one board,
// however long it runs); while the stream is down a banner says since when the board
// may be stale, and the browser comes back with Last-Event-ID to catch up.
"use strict";
(function () {
  var root = document.getElementById("board");
  if (!root || !window.EventSource) { return; }
  var parts = document.getElementById("board-parts");
  var banner = document.getElementById("board-offline");
  var zone = root.dataset.zone;
  var stale = root.dataset.stale;
  var position = root.dataset.position || "";
  // A stream silent for three heartbeats (10 s each) is taken for lost.
  var SILENT_MS = 30000;
  var RETRY_MS = 5000;
  var source = null;
  var lastHeard = Date.now();
  var downSince = null;
  var clock = new Intl.DateTimeFormat(root.dataset.language === "zh" ? "zh-CN" : "en-GB", {
    timeZone: zone, hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false
  });

  // A stream the server ends on purpose (its lifetime, a restart) is back within a
  // couple of seconds: the banner waits that long before it speaks.
  var QUIET_MS = 3000;

  function heard() {
    lastHeard = Date.now();
    if (downSince !== null) { downSince = null; banner.hidden = true; }
  }

  function down() {
    if (downSince !== null) { return; }
    var since = downSince = lastHeard;
    window.setTimeout(function () {
      if (downSince !== since) { return; }
      banner.textContent = stale.replace("%(time)s", clock.format(new Date(since)));
      banner.hidden = false;
    }, QUIET_MS);
  }

  function connect() {
    if (source) { source.close(); }
    source = new EventSource(root.dataset.stream + "?since=" + encodeURIComponent(position));
    source.addEventListener("board", function (event) {
      var fresh = new DOMParser().parseFromString(event.data, "text/html");
      parts.replaceChildren.apply(parts, Array.prototype.slice.call(fresh.body.childNodes));
      if (event.lastEventId) { position = event.lastEventId; }
      heard();
    });
    source.addEventListener("beat", heard);
    source.addEventListener("open", heard);
    source.addEventListener("error", function () {
      down();
      // The browser retries by itself unless the answer was not a stream (a restart
      // answering 503, a session ended): then a new one, later.
      if (source.readyState === EventSource.CLOSED) { window.setTimeout(connect, RETRY_MS); }
    });
  }

  window.setInterval(function () {
    if (Date.now() - lastHeard > SILENT_MS) { down(); connect(); lastHeard = Date.now(); }
  }, 5000);
  connect();
}());
