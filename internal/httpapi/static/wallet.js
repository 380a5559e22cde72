// Live updates for the signed-in pages, a progressive enhancement: the
// pages work without it. It follows GET /api/events (the session cookie signs
// it in) and, on each of the user's events, fetches the page again and
// swaps in its live parts (the elements marked data-live), so what it
// shows is rendered by the server alone; a part holding the focus (a form
// being filled in) is left as it is.
(function () {
  "use strict";
  var page = document.body;
  if (!page.hasAttribute("data-events") || !window.EventSource || !window.fetch || !window.DOMParser) {
    return;
  }
  var busy = false, again = false;
  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch((page.getAttribute("data-page") || location.pathname) + location.search, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var fresh = new DOMParser().parseFromString(html, "text/html");
        document.querySelectorAll("[data-live]").forEach(function (el) {
          var next = fresh.getElementById(el.id);
          // A part being filled in is left alone until the next update.
          if (next && !el.contains(document.activeElement)) { el.replaceChildren.apply(el, Array.prototype.slice.call(next.childNodes)); }
        });
      })
      .catch(function () {})
      .then(function () {
        busy = false;
        if (again) { again = false; refresh(); }
      });
  }
  var types = (page.getAttribute("data-events") || "").split(" ");
  var stream = new EventSource("/api/events");
  types.forEach(function (t) { if (t) { stream.addEventListener(t, refresh); } });
})();
