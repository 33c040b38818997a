// Starts the API's documentation viewer (Swagger UI, vendored under vendor/) on the
// document the page names in data-spec. A file of its own, not an inline script, so the
// page's policy can forbid inline scripts.
window.addEventListener("DOMContentLoaded", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.spec,
    dom_id: "#swagger-ui",
    deepLinking: true,
  });
});
