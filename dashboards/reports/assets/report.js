// Draws the report charts from the JSON block the page carries. A static
// file because the UI's Content-Security-Policy allows no inline script.
(function () {
  "use strict";
  var el = document.getElementById("report-data");
  if (!el || typeof echarts === "undefined") { return; }
  var d = JSON.parse(el.textContent);
  function chart(id, option) {
    var node = document.getElementById(id);
    if (!node) { return; }
    var c = echarts.init(node);
    c.setOption(option);
    window.addEventListener("resize", function () { c.resize(); });
  }
  chart("chart-daily", {
    tooltip: { trigger: "axis" },
    legend: { data: [d.labels.records, d.labels.share5m] },
    grid: { left: 48, right: 48, bottom: 32, top: 40 },
    xAxis: { type: "category", data: d.daily.map(function (x) { return x.day.slice(5); }) },
    yAxis: [{ type: "value", name: d.labels.records, minInterval: 1 },
            { type: "value", name: "%", min: 0, max: 100 }],
    series: [
      { name: d.labels.records, type: "bar", data: d.daily.map(function (x) { return x.records; }) },
      { name: d.labels.share5m, type: "line", yAxisIndex: 1, connectNulls: false,
        data: d.daily.map(function (x) { return x.share_5m === null ? null : Math.round(x.share_5m * 1000) / 10; }) }
    ]
  });
  chart("chart-reasons", {
    tooltip: { trigger: "item" },
    series: [{ type: "pie", radius: ["35%", "65%"],
      data: d.reasons.map(function (r) { return { name: r.field + " · " + r.why, value: r.n }; }) }]
  });
  chart("chart-ranking", {
    tooltip: { trigger: "axis" },
    legend: { data: [d.labels.score, d.labels.prevScore] },
    grid: { left: 120, right: 24, bottom: 24, top: 40 },
    xAxis: { type: "value", min: 0, max: 100 },
    yAxis: { type: "category", inverse: true, data: d.ranking.map(function (u) { return u.unit; }) },
    series: [
      { name: d.labels.score, type: "bar", data: d.ranking.map(function (u) { return u.score; }) },
      { name: d.labels.prevScore, type: "bar", data: d.ranking.map(function (u) { return u.previous_score; }) }
    ]
  });
  chart("chart-alerts", {
    tooltip: { trigger: "axis" },
    grid: { left: 40, right: 16, bottom: 32, top: 24 },
    xAxis: { type: "category", data: d.daily.map(function (x) { return x.day.slice(5); }) },
    yAxis: { type: "value", minInterval: 1 },
    series: [{ name: d.labels.alerts, type: "line", data: d.daily.map(function (x) { return x.alerts; }) }]
  });
})();
