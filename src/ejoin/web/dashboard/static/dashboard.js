// Live pages.  Ports: the server sends a changed port's row as an SSE "port" event, swapped in place; a click on a
// port or a slot opens its card beside the matrix (and the card follows the port's changes).  Overview: an SSE
// "changed" event makes htmx fetch the figures again.
(function () {
  "use strict";
  var detailPort = null;

  function loadDetail(number) {
    var detail = document.getElementById("detail");
    if (!detail || !window.htmx) return false;
    window.htmx.ajax("GET", "/dashboard/ports/" + number, { target: detail, swap: "innerHTML" });
    detail.setAttribute("data-port", number);
    return true;
  }

  function select(number) {
    var old = document.querySelector("#ports tr.selected");
    if (old) old.classList.remove("selected");
    var row = document.getElementById("port-" + number);
    if (row) row.classList.add("selected");
  }

  function openDetail(number) {
    if (!loadDetail(number)) return false;
    detailPort = number;
    select(number);
    if (window.history.replaceState) window.history.replaceState(null, "", "?port=" + number);
    var detail = document.getElementById("detail");
    var box = detail.getBoundingClientRect();
    if (box.top > window.innerHeight || box.bottom < 0) detail.scrollIntoView({ block: "start" });  // stacked on a phone
    return true;
  }

  function swapRow(html) {
    var holder = document.createElement("template");
    holder.innerHTML = html.trim();
    var row = holder.content.firstElementChild;
    if (!row) return;
    var old = document.getElementById(row.id);
    if (!old) return;
    old.replaceWith(row);
    var number = row.id.slice("port-".length);
    if (number === detailPort) {
      row.classList.add("selected");
      loadDetail(number);
    }
  }

  function connect() {
    var source_el = document.querySelector("[data-events]");
    if (!source_el || !window.EventSource) return;
    var status = document.getElementById("live-status");
    var source = new EventSource(source_el.getAttribute("data-events"));
    source.addEventListener("open", function () { if (status) status.textContent = "Live updates: on"; });
    source.addEventListener("error", function () {
      if (status) status.textContent = "Live updates: reconnecting…";
      // CLOSED: the stream was refused (a session lost at a restart): reloading leads to the login
      if (source.readyState === EventSource.CLOSED) setTimeout(function () { window.location.reload(); }, 2000);
    });
    source.addEventListener("port", function (event) { swapRow(event.data); });
    source.addEventListener("changed", function () {
      var overview = document.getElementById("overview");
      if (overview && window.htmx) window.htmx.trigger(overview, "changed");
    });
    window.addEventListener("pagehide", function () { source.close(); });
  }

  function start() {
    var detail = document.getElementById("detail");
    if (detail && detail.getAttribute("data-port")) {
      detailPort = detail.getAttribute("data-port");
      select(detailPort);
    }
    var matrix = document.getElementById("ports");
    if (matrix) {
      matrix.addEventListener("click", function (event) {
        var link = event.target.closest("a[data-port]");
        if (!link || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
        if (openDetail(link.getAttribute("data-port"))) event.preventDefault();
      });
    }
    connect();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();
