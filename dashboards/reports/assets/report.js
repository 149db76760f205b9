// Draws the report charts from the JSON block the page carries. A static
// file because the UI's Content-Security-Policy allows no inline script.
(function () {
  "use strict";
  var el = document.getElementById("report-data");
  if (!el || typeof echarts === "undefined") { return; }
  var d = JSON.parse(el.textContent);
  function value(x) {
    if (x === null || x === undefined) { return 0; }
    if (typeof x === "object") { return value(x.value); }
    return Number(x) || 0;
  }
  function chart(id, option) {
    var node = document.getElementById(id);
    if (!node) { return; }
    // Nothing to draw (a new week, no rejected rows): say so rather than
    // show a grey ring or bare axes.
    var filled = option.series.some(function (s) { return s.data.some(function (x) { return value(x) !== 0; }); });
    if (!filled) {
      option.graphic = [{ type: "text", left: "center", top: "middle", silent: true,
        style: { text: d.labels.noData, fill: "#6b7280", fontSize: 14 } }];
      option.series.forEach(function (s) { if (s.type === "pie") { s.data = []; s.showEmptyCircle = false; } });
    }
    var c = echarts.init(node);
    c.setOption(option);
    window.addEventListener("resize", function () { c.resize(); });
  }
  chart("chart-daily", {
    tooltip: { trigger: "axis" },
    legend: { data: [d.labels.records, d.labels.share5m], top: 0 },
    grid: { left: 48, right: 48, bottom: 32, top: 56 },
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
    legend: { data: [d.labels.score, d.labels.prevScore], top: 0 },
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
