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

    // A link that named the move to make (`?act=`, from the inbox or a queue): its form is open; bring
    // it into view and put the cursor in its first field.
    if (/[?&]act=/.test(location.search)) {
      var opened = document.querySelector("#actions details.action[open]");
      if (opened) {
        opened.scrollIntoView({block: "nearest"});
        var first = opened.querySelector("form:not(.inline) textarea, form:not(.inline) select, form:not(.inline) input:not([type=hidden])");
        if (first) first.focus({preventScroll: true});
      }
    }

    // 相似已结案件 → "用作答复草稿": the past reply (filled in for this case by the server) goes into the
    // reply form as a draft; nothing is sent until the handler submits the form.
    document.addEventListener("click", function (ev) {
      var btn = ev.target.closest ? ev.target.closest("button[data-draft-target]") : null;
      if (!btn) return;
      var target = document.getElementById(btn.dataset.draftTarget);
      if (!target) return;
      var box = target.closest("details");
      if (box) box.open = true;
      target.value = btn.dataset.text;
      target.scrollIntoView({block: "nearest"});
      target.focus();
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

  // --- intake: escalation risk of the complaint text, the phrases highlighted, the flags proposed ---

  ready(function () {
    var panel = document.getElementById("risk-panel");
    var form = document.getElementById("intake-form");
    if (!panel || !form) return;
    var text = form.querySelector("[name=description]");
    var proposed = [];
    var timer = null;

    function show(data, source) {
      var result = document.getElementById("risk-result");
      document.getElementById("risk-none").hidden = data.signals.length > 0 || !source;
      result.hidden = data.signals.length === 0;
      var kinds = document.getElementById("risk-kinds");
      kinds.textContent = "";
      var seen = {};
      data.signals.forEach(function (s) {
        if (seen[s.label]) return;
        seen[s.label] = true;
        var li = document.createElement("li");
        li.textContent = s.label;
        kinds.appendChild(li);
      });
      // The text with each phrase in a <mark> (built as DOM nodes: the text is never parsed as HTML).
      var box = document.getElementById("risk-text");
      box.textContent = "";
      var at = 0;
      data.signals.forEach(function (s) {
        box.appendChild(document.createTextNode(source.slice(at, s.start)));
        var mark = document.createElement("mark");
        mark.className = "risk-mark";
        mark.title = s.label;
        mark.textContent = source.slice(s.start, s.end);
        box.appendChild(mark);
        at = s.end;
      });
      box.appendChild(document.createTextNode(source.slice(at)));
      proposed = data.proposed_flags || [];
      document.getElementById("risk-proposal").hidden = proposed.length === 0;
      document.getElementById("risk-applied").hidden = true;
      document.getElementById("risk-flags").textContent = proposed.map(function (f) {
        return data.flag_labels[f] || f;
      }).join("、");
      document.getElementById("risk-level").textContent = data.proposed_level_label || "";
    }

    function check() {
      var source = text ? text.value : "";
      var body = new FormData();
      body.append("text", source);
      var token = form.querySelector("[name=csrfmiddlewaretoken]");
      fetch(panel.dataset.riskUrl, {
        method: "POST", body: body, credentials: "same-origin",
        headers: {"X-CSRFToken": token ? token.value : ""}
      }).then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) { if (data) show(data, source); })
        .catch(function () { /* the check is a help; registering works without it */ });
    }

    document.getElementById("risk-check").addEventListener("click", check);
    if (text) {
      text.addEventListener("input", function () {
        clearTimeout(timer);
        timer = setTimeout(check, 500);
      });
      if (text.value) check();
    }
    // The agent confirms: the proposed flags are ticked in 特殊情形 (the preview then shows the level).
    document.getElementById("risk-apply").addEventListener("click", function () {
      var changed = null;
      proposed.forEach(function (f) {
        var box = form.querySelector("input[name=flags][value='" + f + "']");
        if (box && !box.checked) { box.checked = true; changed = box; }
      });
      if (changed) changed.dispatchEvent(new Event("change", {bubbles: true}));
      document.getElementById("risk-applied").hidden = false;
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
