/* Behaviour of the workbench and portal pages. No inline scripts or on*= handlers in the templates:
   the Content-Security-Policy allows scripts from this site only (script-src 'self'). */
(function () {
  "use strict";

  function ready(fn) {
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", fn);
    else fn();
  }

  ready(function () {
    // <select data-autosubmit>: submit its form on change (the language switch).
    document.querySelectorAll("select[data-autosubmit]").forEach(function (el) {
      el.addEventListener("change", function () { if (el.form) el.form.submit(); });
    });

    // <form data-once>: a second click while the first submission is on its way does nothing (the
    // server is idempotent anyway); a submit button named "lookup" is not a submission.
    document.querySelectorAll("form[data-once]").forEach(function (form) {
      form.addEventListener("submit", function (ev) {
        if (ev.submitter && ev.submitter.name === "lookup") return;
        if (form.dataset.sent) { ev.preventDefault(); return; }
        form.dataset.sent = "1";
      });
    });
  });

  // Back button: the page comes back from the cache with the same one-time key; allow saving again
  // (the server answers with the case created the first time).
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form[data-once]").forEach(function (form) { delete form.dataset.sent; });
  });
})();
