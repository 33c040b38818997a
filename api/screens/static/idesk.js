// The duty desk's countdowns tick down between reloads (ADR 0056). The server's figure
// is the truth: this only counts the minutes since the page was drawn, and only while
// the clock the figure counts is running (working time stands outside office hours).
"use strict";
(function () {
  var drawn = Date.now();
  var clocks = document.querySelectorAll(".countdown[data-seconds]");
  function show(el) {
    if (el.dataset.running !== "1") { return; }
    var passed = Math.floor((Date.now() - drawn) / 1000);
    var late = el.dataset.late === "1";
    var seconds = parseInt(el.dataset.seconds, 10) + (late ? passed : -passed);
    if (seconds < 0) { seconds = 0; }
    var minutes = Math.floor(seconds / 60);
    var text = (minutes < 60 ? el.dataset.m : el.dataset.hm)
      .replace("%(hours)s", String(Math.floor(minutes / 60)))
      .replace("%(minutes)s", String(minutes < 60 ? minutes : minutes % 60));
    var amount = el.querySelector(".amount");
    if (amount) { amount.textContent = text; }
  }
  if (clocks.length) {
    window.setInterval(function () { clocks.forEach(show); }, 60000);
  }
})();
