// Live port cards: the server sends a changed port's card as an SSE "port" event; it replaces the card in place.
(function () {
  "use strict";
  function connect() {
    var grid = document.getElementById("ports");
    if (!grid || !window.EventSource) return;
    var status = document.getElementById("live-status");
    var source = new EventSource(grid.getAttribute("data-events"));
    source.addEventListener("open", function () { if (status) status.textContent = "Live updates: on"; });
    source.addEventListener("error", function () {
      if (status) status.textContent = "Live updates: reconnecting…";
      // CLOSED: the stream was refused (a session lost at a restart): reloading leads to the login
      if (source.readyState === EventSource.CLOSED) setTimeout(function () { window.location.reload(); }, 2000);
    });
    source.addEventListener("port", function (event) {
      var holder = document.createElement("div");
      holder.innerHTML = event.data;
      var card = holder.firstElementChild;
      if (!card) return;
      var old = document.getElementById(card.id);
      if (old) old.replaceWith(card); else grid.appendChild(card);
      if (window.htmx) window.htmx.process(card);
    });
    window.addEventListener("pagehide", function () { source.close(); });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", connect); else connect();
})();
