/* expguard report: draw every chart, then tell the page what was drawn.
 *
 * <html> carries the state for people and for the browser test:
 *   data-charts-expected  charts in the page
 *   data-charts-drawn     charts whose Plotly.newPlot promise resolved with an SVG and traces in it
 *   data-report-state     "loading", then "done"
 *   data-js-errors        a JSON list of every error caught (window.onerror, rejections, console.error)
 *   data-render-ms        milliseconds from the first chart to the last
 *   data-first-screen-ms  milliseconds from navigation until the charts of the first screen were drawn
 */
(function () {
  "use strict";
  var root = document.documentElement;
  var record = window.expguardRecordError || function (m) { throw new Error(m); };

  var BASE = {
    margin: { l: 60, r: 14, t: 34, b: 36 },
    font: { family: "-apple-system, Segoe UI, Roboto, Helvetica Neue, Arial, sans-serif", size: 11, color: "#1f2328" },
    paper_bgcolor: "#fff",
    plot_bgcolor: "#fff",
    hovermode: "closest",
    hoverlabel: { align: "left" },
    showlegend: true,
    legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom", font: { size: 10 } },
    xaxis: { gridcolor: "#eef1f4", automargin: true },
    yaxis: { gridcolor: "#eef1f4", zerolinecolor: "#d8dee4", automargin: true, title: { font: { size: 11 } } }
  };
  var CONFIG = { responsive: true, displayModeBar: false };

  function isObject(value) { return value !== null && typeof value === "object" && !Array.isArray(value); }
  function merge(base, extra) {
    var out = {};
    Object.keys(base).forEach(function (k) { out[k] = base[k]; });
    Object.keys(extra || {}).forEach(function (k) {
      out[k] = isObject(base[k]) && isObject(extra[k]) ? merge(base[k], extra[k]) : extra[k];
    });
    return out;
  }

  function drawnIn(div, figure) {
    // Drawn means in the page, not in the HTML: an SVG root, and a rendered group per trace.
    if (!div.querySelector("svg.main-svg")) { return false; }
    var traces = div.querySelectorAll("g.trace").length;
    return traces >= Math.min(1, figure.data.length);
  }

  // Yield to the browser (paint, input) without setTimeout's 4 ms clamp or background throttling.
  var channel = new MessageChannel(), waiting = [];
  channel.port1.onmessage = function () { var resolve = waiting.shift(); if (resolve) { resolve(); } };
  function pause() { return new Promise(function (resolve) { waiting.push(resolve); channel.port2.postMessage(0); }); }

  function inViewport(div) {
    var box = div.getBoundingClientRect();
    return box.bottom > 0 && box.top < window.innerHeight;
  }

  async function drawAll() {
    var charts = JSON.parse(document.getElementById("expguard-charts").textContent).charts;
    var pending = Array.prototype.slice.call(document.querySelectorAll("div[data-chart]"));
    var drawn = 0, started = performance.now(), firstScreen = false;
    // Charts near the viewport are drawn first (a click in the overview jumps the queue);
    // the others follow in page order, so that every chart is drawn in the end.
    var near = new Set();
    var observer = "IntersectionObserver" in window ? new IntersectionObserver(function (entries) {
      entries.forEach(function (entry) { if (entry.isIntersecting) { near.add(entry.target); } else { near.delete(entry.target); } });
    }, { rootMargin: "400px 0px" }) : null;
    if (observer) { pending.forEach(function (div) { observer.observe(div); }); }
    while (pending.length) {
      var index = 0;
      for (var j = 0; j < pending.length; j++) { if (near.has(pending[j])) { index = j; break; } }
      var div = pending.splice(index, 1)[0], figure = charts[Number(div.getAttribute("data-chart"))];
      if (observer) { observer.unobserve(div); near.delete(div); }
      try {
        await Plotly.newPlot(div, figure.data, merge(BASE, figure.layout), CONFIG);
        if (drawnIn(div, figure)) {
          drawn += 1;
          div.setAttribute("data-drawn", "true");
          root.setAttribute("data-charts-drawn", String(drawn));
        } else {
          record("chart " + div.id + " rendered no trace");
        }
      } catch (error) {
        record("chart " + div.id + ": " + (error && error.message ? error.message : error));
        div.innerHTML = '<p class="chart-error">This chart could not be drawn.</p>';
      }
      if (!firstScreen && !pending.some(inViewport)) {
        firstScreen = true;  // every chart on the first screen is drawn: the page is readable
        root.setAttribute("data-first-screen-ms", String(Math.round(performance.now())));
      }
      await pause();
    }
    if (observer) { observer.disconnect(); }
    root.setAttribute("data-render-ms", String(Math.round(performance.now() - started)));
    root.setAttribute("data-report-state", "done");
  }

  function sortable(table) {
    var heads = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads, function (th, column) {
      th.addEventListener("click", function () {
        var order = th.getAttribute("data-order") === "asc" ? "desc" : "asc";
        Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("data-order"); });
        th.setAttribute("data-order", order);
        var numeric = th.getAttribute("data-type") === "number";
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = a.cells[column].getAttribute("data-sort"), y = b.cells[column].getAttribute("data-sort");
          if (x === "" || x === null) { return (y === "" || y === null) ? 0 : 1; }  // empty last, either way
          if (y === "" || y === null) { return -1; }
          var c = numeric ? Number(x) - Number(y) : (x < y ? -1 : x > y ? 1 : 0);  // text: by code point
          return order === "asc" ? c : -c;
        });
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  }

  document.querySelectorAll("table.sortable").forEach(sortable);
  if (typeof Plotly === "undefined") {
    record("plotly.js did not load");
    return;
  }
  drawAll().catch(function (error) { record("drawing failed: " + (error && error.message ? error.message : error)); });
})();
