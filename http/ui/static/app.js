// Progressive enhancement for the web UI; every page works without it.
"use strict";

// The browser's time zone, for the server to show times in: kept in a
// cookie, and the page reloaded once when the cookie was missing or stale.
(function () {
  var zone = "";
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { return; }
  if (!zone) { return; }
  var current = document.cookie.split("; ").filter(function (c) { return c.indexOf("tz=") === 0; })[0];
  var want = "tz=" + encodeURIComponent(zone);
  if (current === want) { return; }
  document.cookie = want + "; path=/; max-age=31536000; SameSite=Lax";
  var shown = document.body.getAttribute("data-zone");
  if (shown !== zone && new URLSearchParams(location.search).get("tz") === null) {
    location.reload();
  }
})();

document.addEventListener("DOMContentLoaded", function () {
  // Type-ahead over the activity names: the search box narrows the list
  // (ticked names stay in view).
  var search = document.getElementById("activity-search");
  var list = document.getElementById("activity");
  if (search && list) {
    search.hidden = false;
    search.addEventListener("input", function () {
      var words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
      Array.prototype.forEach.call(list.querySelectorAll("li"), function (li) {
        var box = li.querySelector("input");
        var text = (li.textContent + " " + box.value).toLowerCase();
        li.hidden = !box.checked && !words.every(function (w) { return text.indexOf(w) >= 0; });
      });
    });
    search.addEventListener("keydown", function (e) {
      if (e.key === "ArrowDown") {
        var first = list.querySelector("li:not([hidden]) input");
        if (first) { e.preventDefault(); first.focus(); }
      }
    });
  }
  // Filters in the URL only when given: empty fields are left out.
  Array.prototype.forEach.call(document.querySelectorAll("form.search"), function (form) {
    form.addEventListener("submit", function () {
      Array.prototype.forEach.call(form.elements, function (el) {
        if (el.name && el.value === "" && el.type !== "radio") { el.disabled = true; }
        if (el.type === "radio" && el.checked && el.value === "") { el.disabled = true; }
      });
    });
  });
});
