// Closed Loop's screens: the little the pages do in the browser (ADR 0053).
// Every page works without it; it only keeps a form from being sent twice by a
// double click (the server records one command either way: each form has its id).
"use strict";
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (form.dataset.sent === "1") { event.preventDefault(); return; }
  form.dataset.sent = "1";
  window.setTimeout(function () { form.dataset.sent = ""; }, 3000);
});
