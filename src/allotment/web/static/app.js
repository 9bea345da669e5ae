// Charts for the dashboard: each reads the same numbers as the table next to it, from a JSON
// <script> block, so the page reads the same without JavaScript.
(function () {
  "use strict";
  function data(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }
  function usd(v) {
    return (v < 0 ? "−$" : "$") + Math.abs(v).toLocaleString("en-US", { maximumFractionDigits: 0 });
  }
  function waterfall(root) {
    var canvas = root.querySelector("#waterfall-chart");
    var steps = data("waterfall-data");
    if (!canvas || !steps || !window.Chart || canvas.dataset.drawn) return;
    canvas.dataset.drawn = "1";
    var total = steps.length ? steps[steps.length - 1].end : 0;
    var labels = steps.map(function (s) { return s.label; }).concat(["priority"]);
    var bars = steps.map(function (s) { return [s.start, s.end]; }).concat([[0, total]]);
    var colors = steps.map(function (s) { return s.usd >= 0 ? "#1f5fbf" : "#b3261e"; }).concat(["#14213d"]);
    new window.Chart(canvas, {
      type: "bar",
      data: { labels: labels, datasets: [{ data: bars, backgroundColor: colors }] },
      options: {
        maintainAspectRatio: false, animation: false,
        plugins: { legend: { display: false }, tooltip: { callbacks: { label: function (c) {
          var v = c.raw; return usd(v[1] - v[0]); } } } },
        scales: { y: { ticks: { callback: function (v) { return usd(v); } } } }
      }
    });
  }
  function simpleCharts(root) {
    root.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      if (!window.Chart || canvas.dataset.drawn) return;
      var spec = data(canvas.dataset.chart);
      if (!spec) return;
      canvas.dataset.drawn = "1";
      new window.Chart(canvas, {
        type: spec.type || "bar",
        data: { labels: spec.labels, datasets: spec.datasets },
        options: { maintainAspectRatio: false, animation: false, indexAxis: spec.indexAxis || "x",
          plugins: { legend: { display: spec.datasets.length > 1 } },
          scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } }
      });
    });
  }
  function draw(root) { waterfall(root); simpleCharts(root); }
  document.addEventListener("DOMContentLoaded", function () { draw(document); });
  document.addEventListener("htmx:afterSettle", function (e) { draw(e.target); });
})();
