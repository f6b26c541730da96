/* Dashboard charts (Apache ECharts from the vendored npm package). Every clickable figure opens
   the case list behind it: the server sends the drill-down URL of every data point. */
(function () {
  "use strict";
  var el = document.getElementById("analytics-data");
  if (!el || typeof echarts === "undefined") { return; }
  var data = JSON.parse(el.textContent);
  var charts = [];

  function make(id, option, onClick) {
    var node = document.getElementById(id);
    if (!node) { return; }
    var chart = echarts.init(node, null, { renderer: "canvas" });
    chart.setOption(option);
    if (onClick) {
      chart.on("click", function (p) {
        var url = onClick(p);
        if (url) { window.location.href = url; }
      });
    }
    charts.push(chart);
  }

  var L = data.labels || { count: "件数", cumulative: "累计占比" };
  var LONG_LABEL = { rotate: 40, interval: 0, width: 90, overflow: "truncate", hideOverlap: true };

  var t = data.trend;
  make("chart-trend", {
    tooltip: { trigger: "axis" },
    grid: { containLabel: true, left: 8, right: 16 },
    xAxis: { type: "category", data: t.buckets, axisLabel: { hideOverlap: true } },
    yAxis: { type: "value", minInterval: 1 },
    series: t.series.map(function (s) { return { name: s.name, type: "line", data: s.data, smooth: true }; })
  }, function (p) { return t.series[p.seriesIndex].urls[p.dataIndex]; });

  var st = data.stacked;
  make("chart-stacked", {
    tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
    legend: { type: "scroll", top: 0 },
    grid: { top: 40, containLabel: true, left: 8, right: 16 },
    xAxis: { type: "category", data: st.buckets, axisLabel: { hideOverlap: true } },
    yAxis: { type: "value", minInterval: 1 },
    series: st.series.map(function (s) { return { name: s.name, type: "bar", stack: "total", data: s.data }; })
  }, function (p) { return st.series[p.seriesIndex].urls[p.dataIndex]; });

  var pa = data.pareto;
  make("chart-pareto", {
    tooltip: { trigger: "axis" },
    // Long category names: rotated, cut to a width (the tooltip has the full name), never overlapping.
    xAxis: { type: "category", data: pa.labels, axisLabel: LONG_LABEL },
    yAxis: [{ type: "value", minInterval: 1 }, { type: "value", max: 100, axisLabel: { formatter: "{value}%" } }],
    grid: { containLabel: true, left: 8, right: 8, bottom: 8 },
    series: [
      { name: L.count, type: "bar", data: pa.counts },
      { name: L.cumulative, type: "line", yAxisIndex: 1, data: pa.cumulative,
        markLine: { silent: true, symbol: "none", data: [{ yAxis: 80 }] } }
    ]
  }, function (p) { return p.seriesIndex === 0 ? pa.urls[p.dataIndex] : null; });

  var hm = data.heatmap;
  make("chart-heatmap", {
    tooltip: { position: "top" },
    grid: { containLabel: true, left: 8, right: 8, bottom: 50 },
    xAxis: { type: "category", data: hm.x, axisLabel: LONG_LABEL },
    yAxis: { type: "category", data: hm.y, axisLabel: { width: 110, overflow: "truncate", interval: 0 } },
    visualMap: { min: 0, max: Math.max(hm.max, 1), calculable: true, orient: "horizontal", left: "center", bottom: 0 },
    series: [{ type: "heatmap", data: hm.cells, label: { show: true } }]
  }, function (p) { return hm.urls[p.data[0] + "," + p.data[1]]; });

  var rg = data.regions;
  make("chart-regions", {
    tooltip: {},
    grid: { containLabel: true, left: 8, right: 40 },
    xAxis: { type: "value", minInterval: 1 },
    yAxis: { type: "category", data: rg.labels.slice().reverse(), axisLabel: { width: 110, overflow: "truncate", interval: 0 } },
    series: [{ type: "bar", data: rg.counts.slice().reverse(), label: { show: true, position: "right" } }]
  }, function (p) { return rg.urls[rg.urls.length - 1 - p.dataIndex]; });

  window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
})();
