// Dalil: the little JavaScript the pages need (everything works without it, less conveniently).
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  function ready(fn) {
    if (document.readyState !== "loading") { fn(); } else { document.addEventListener("DOMContentLoaded", fn); }
  }
  // Show only the custody detail fields that the chosen action requires.
  function syncCustody(select) {
    var form = select.form;
    form.querySelectorAll("[data-actions]").forEach(function (box) {
      var show = box.getAttribute("data-actions").split(" ").indexOf(select.value) >= 0;
      box.hidden = !show;
    });
  }
  ready(function () {
    document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
      select.addEventListener("change", function () { select.form.submit(); });
    });
    document.querySelectorAll("select[data-custody-action]").forEach(function (select) {
      syncCustody(select);
      select.addEventListener("change", function () { syncCustody(select); });
    });
  });
})();
