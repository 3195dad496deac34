/* /api/docs/: Swagger UI (drf-spectacular-sidecar, served from /static/) on Easel's schema.
   A file of its own, not an inline script: the Content-Security-Policy allows only ours. */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var root = document.getElementById("swagger-ui");
    if (!root || !window.SwaggerUIBundle) return;
    var csrf = (document.body.getAttribute("hx-headers") || "").match(/"X-CSRFToken": "([^"]*)"/);
    window.SwaggerUIBundle({
      url: root.getAttribute("data-schema-url"),
      domNode: root,
      // Operations start folded (the page stays short on a phone), and without deep links,
      // whose anchor inside each operation's button nests one control in another (axe).
      docExpansion: "none",
      deepLinking: false,
      // "Try it out" from a signed-in page sends the session cookie; Django wants the token too.
      requestInterceptor: function (request) {
        if (csrf) request.headers["X-CSRFToken"] = csrf[1];
        return request;
      }
    });
  });
})();
