// Keyboard shortcuts of the review app: no framework, no inline script (the page's CSP forbids it).
(function () {
  "use strict";
  function typing(el) {
    return el && (el.tagName === "TEXTAREA" || (el.tagName === "INPUT" && el.type !== "checkbox"));
  }
  document.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) { return; }
    var page = document.getElementById("page");
    if (!page) { return; }
    if (typing(document.activeElement)) {
      if (ev.key === "Escape") { document.activeElement.blur(); }
      return;
    }
    var key = ev.key;
    if (/^[1-9]$/.test(key)) {
      var box = document.getElementById("item-" + key);
      if (box) { box.checked = !box.checked; ev.preventDefault(); }
    } else if (key === "s") {
      ev.preventDefault();
      document.getElementById("grade-form").requestSubmit(document.getElementById("save"));
    } else if (key === "j") {
      window.location.assign(page.dataset.next);
    } else if (key === "k") {
      window.location.assign(page.dataset.prev);
    } else if (key === "n") {
      window.location.assign(page.dataset.ungraded);
    } else if (key === "a") {
      window.location.assign(page.dataset.names);
    } else if (key === "c") {
      ev.preventDefault();
      document.getElementById("comment").focus();
    } else if (key === "r") {
      document.querySelectorAll("details.raw").forEach(function (d) { d.open = !d.open; });
    }
  });
  document.addEventListener("click", function (ev) {
    var b = ev.target.closest ? ev.target.closest("button.use-comment") : null;
    if (b) { document.getElementById("comment").value = b.dataset.text; }
  });
}());
