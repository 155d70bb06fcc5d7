// shopmail local web inbox: tabs on the message view and live updates of the lists.
// Served from 'self' (the pages' Content-Security-Policy allows no inline script).
(function () {
  "use strict";

  function setupTabs(root) {
    var links = root.querySelectorAll("nav.tabs a[data-tab]");
    var panels = root.querySelectorAll("section.tab[data-tab]");
    if (!links.length) { return; }
    function show(name) {
      var found = false;
      panels.forEach(function (p) { if (p.dataset.tab === name) { found = true; } });
      if (!found) { name = links[0].dataset.tab; }
      panels.forEach(function (p) { p.hidden = p.dataset.tab !== name; });
      links.forEach(function (a) {
        var on = a.dataset.tab === name;
        a.classList.toggle("active", on);
        a.setAttribute("aria-selected", on ? "true" : "false");
      });
      root.dataset.activeTab = name;
    }
    links.forEach(function (a) {
      a.addEventListener("click", function (ev) {
        ev.preventDefault();
        show(a.dataset.tab);
        history.replaceState(null, "", "#tab-" + a.dataset.tab);
      });
    });
    var wanted = (location.hash || "").replace(/^#tab-/, "");
    show(wanted || root.dataset.defaultTab || links[0].dataset.tab);
  }

  function setupAll(scope) {
    scope.querySelectorAll("[data-tabs]").forEach(setupTabs);
  }

  var status = null;
  var pending = false;
  var again = false;

  function schedule() {
    if (pending) { again = true; return; }
    pending = true;
    setTimeout(refresh, 200);
  }

  function refresh() {
    fetch(location.href, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.querySelector("main");
        var current = document.querySelector("main");
        if (fresh && current && fresh.innerHTML !== current.innerHTML) {
          current.replaceWith(document.importNode(fresh, true));
          setupAll(document.querySelector("main"));
          document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
          if (status) { status.textContent = "updated " + new Date().toLocaleTimeString(); }
        }
      })
      .catch(function () { if (status) { status.textContent = "update failed"; } })
      .then(function () {
        pending = false;
        if (again) { again = false; schedule(); }  // a change came in while fetching
      });
  }

  function live() {
    if (document.body.dataset.live !== "1" || !window.EventSource) { return; }
    var main = document.querySelector("main");
    var since = main && main.dataset.version ? main.dataset.version : "";
    var source = new EventSource("/stream" + (since ? "?since=" + encodeURIComponent(since) : ""));
    source.addEventListener("open", function () {
      document.body.dataset.stream = "open";
      if (status) { status.textContent = "live"; }
    });
    source.addEventListener("change", schedule);
    source.addEventListener("error", function () {
      document.body.dataset.stream = "reconnecting";
      if (status) { status.textContent = "offline, reconnecting"; }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    status = document.getElementById("live-status");
    setupAll(document);
    live();
  });
})();
