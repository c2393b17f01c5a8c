// Starts Swagger UI on /docs. A file of its own: the page's Content-Security-Policy runs no inline script.
window.addEventListener("DOMContentLoaded", function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null, // never send the description to validator.swagger.io
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout"
  });
});
