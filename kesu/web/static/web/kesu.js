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

  // --- the desk: reply templates, bulk selection, saved views, panel members, keyboard shortcuts ---

  ready(function () {
    // <select data-fill-target=ID>: the chosen reply template's text (option data-text, filled in by the
    // server) goes into the textarea; the person edits it before sending.
    document.querySelectorAll("select[data-fill-target]").forEach(function (sel) {
      sel.addEventListener("change", function () {
        var opt = sel.options[sel.selectedIndex];
        var target = document.getElementById(sel.dataset.fillTarget);
        if (opt && opt.dataset.text && target) { target.value = opt.dataset.text; target.focus(); }
      });
    });

    // The queue's bulk bar: "select all", only the fields of the chosen action, and the current URL
    // (htmx may have changed the filters since the page was rendered).
    document.addEventListener("change", function (ev) {
      if (ev.target && ev.target.id === "select-all") {
        document.querySelectorAll("input[name=case][form=bulk-form]").forEach(function (box) {
          box.checked = ev.target.checked;
        });
      }
    });
    var bulk = document.getElementById("bulk-form");
    if (bulk) {
      var action = bulk.querySelector("[name=bulk_action]");
      var toggle = function () {
        bulk.querySelectorAll("[data-bulk-for]").forEach(function (el) {
          el.hidden = el.dataset.bulkFor.split(" ").indexOf(action.value) < 0;
        });
      };
      action.addEventListener("change", toggle);
      toggle();
      bulk.addEventListener("submit", function () {
        bulk.querySelector("[name=next]").value = location.pathname + location.search;
      });
    }
    document.querySelectorAll("form.save-view").forEach(function (form) {
      form.addEventListener("submit", function () {
        form.querySelector("[name=query]").value = location.search.replace(/^\?/, "");
      });
    });

    // The intake page: apply the triage suggestion in place (the preview then follows the new category).
    document.addEventListener("click", function (ev) {
      var btn = ev.target.closest ? ev.target.closest("[data-apply-category]") : null;
      if (!btn) return;
      var select = document.querySelector("#intake-form [name=category]");
      if (!select) return;
      ev.preventDefault();
      select.value = btn.dataset.applyCategory;
      select.dispatchEvent(new Event("change", {bubbles: true}));
    });

    // Panel members: filter the list by department and by a search text (a long list stays usable).
    document.querySelectorAll("[data-member-filter]").forEach(function (box) {
      var select = document.getElementById(box.dataset.memberFilter);
      var dept = box.querySelector("select");
      var text = box.querySelector("input");
      if (!select) return;
      var apply = function () {
        var d = dept ? dept.value : "";
        var t = text ? text.value.trim().toLowerCase() : "";
        Array.prototype.forEach.call(select.options, function (opt) {
          var show = (!d || opt.dataset.dept === d) && (!t || opt.text.toLowerCase().indexOf(t) >= 0);
          opt.hidden = !show && !opt.selected;
        });
      };
      if (dept) dept.addEventListener("change", apply);
      if (text) text.addEventListener("input", apply);
    });

    // The rows of the queue the person last opened, for j/k on the case page.
    var rows = document.querySelectorAll("#queue-list tr[data-case]");
    if (rows.length) remember(rows);
    document.addEventListener("htmx:afterSwap", function () {
      var r = document.querySelectorAll("#queue-list tr[data-case]");
      if (r.length) remember(r);
      current = -1;
    });
  });

  function remember(rows) {
    try {
      sessionStorage.setItem("kesu.queue", JSON.stringify({
        url: location.pathname + location.search,
        cases: Array.prototype.map.call(rows, function (tr) { return tr.dataset.case; })
      }));
    } catch (e) { /* private mode: no queue navigation from the case page */ }
  }

  var current = -1;
  var pendingG = false;

  function typing(el) {
    if (!el) return false;
    var tag = el.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || el.isContentEditable;
  }

  function openAction(name) {
    var box = document.getElementById("action-" + name);
    if (!box) return false;
    box.open = true;
    box.scrollIntoView({block: "nearest"});
    var field = box.querySelector("textarea, select, input:not([type=hidden])");
    if (field) field.focus();
    return true;
  }

  function move(step) {
    var rows = document.querySelectorAll("#queue-list tr[data-case]");
    if (rows.length) {
      if (current >= 0 && rows[current]) rows[current].classList.remove("kb-current");
      current = Math.max(0, Math.min(rows.length - 1, current + step));
      rows[current].classList.add("kb-current");
      rows[current].scrollIntoView({block: "nearest"});
      var link = rows[current].querySelector("a.case-link");
      if (link) link.focus();
      return;
    }
    // On a case page: the neighbour in the queue the person came from.
    var m = location.pathname.match(/^\/cases\/([^/]+)\/$/);
    var saved = null;
    try { saved = JSON.parse(sessionStorage.getItem("kesu.queue") || "null"); } catch (e) { saved = null; }
    if (!m || !saved || !saved.cases) return;
    var i = saved.cases.indexOf(decodeURIComponent(m[1]));
    if (i < 0) return;
    var next = saved.cases[i + step];
    if (next) location.href = "/cases/" + encodeURIComponent(next) + "/";
    else location.href = saved.url;  // past either end: back to the queue
  }

  document.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || typing(ev.target)) return;
    var help = document.getElementById("shortcuts-help");
    if (!help) return;  // signed-out pages and the portal have no shortcuts
    var key = ev.key;
    if (pendingG) {
      pendingG = false;
      if (key === "i") { ev.preventDefault(); location.href = help.dataset.inboxUrl; }
      return;
    }
    var handled = true;
    if (key === "?") {
      if (help.open) help.close(); else if (help.showModal) help.showModal(); else help.setAttribute("open", "");
    } else if (key === "j") move(1);
    else if (key === "k") move(-1);
    else if (key === "g") pendingG = true;
    else if (key === "/") {
      var search = document.querySelector("input[type=search]");
      if (search) search.focus(); else handled = false;
    } else if (key === "o" || key === "Enter") {
      var row = document.querySelector("#queue-list tr.kb-current a.case-link");
      if (row) location.href = row.href; else handled = false;
    } else if (key === "x") {
      var box = document.querySelector("#queue-list tr.kb-current input[name=case]");
      if (box) box.checked = !box.checked; else handled = false;
    } else if (key === "a") handled = openAction("assign");
    else if (key === "n") handled = openAction("add_note");
    else if (key === "r") handled = openAction("reply") || openAction("answer_first_contact");
    else handled = false;
    if (handled) ev.preventDefault();
  });

  // Back button: the page comes back from the cache with the same one-time key; allow saving again
  // (the server answers with the case created the first time).
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form[data-once]").forEach(function (form) { delete form.dataset.sent; });
  });
})();
