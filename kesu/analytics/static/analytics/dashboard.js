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

  var t = data.trend;
  make("chart-trend", {
    tooltip: { trigger: "axis" },
    xAxis: { type: "category", data: t.buckets },
    yAxis: { type: "value", minInterval: 1 },
    series: t.series.map(function (s) { return { name: s.name, type: "line", data: s.data, smooth: true }; })
  }, function (p) { return t.series[p.seriesIndex].urls[p.dataIndex]; });

  var st = data.stacked;
  make("chart-stacked", {
    tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
    legend: { type: "scroll", top: 0 },
    grid: { top: 40 },
    xAxis: { type: "category", data: st.buckets },
    yAxis: { type: "value", minInterval: 1 },
    series: st.series.map(function (s) { return { name: s.name, type: "bar", stack: "total", data: s.data }; })
  }, function (p) { return st.series[p.seriesIndex].urls[p.dataIndex]; });

  var pa = data.pareto;
  make("chart-pareto", {
    tooltip: { trigger: "axis" },
    xAxis: { type: "category", data: pa.labels, axisLabel: { rotate: 30, interval: 0 } },
    yAxis: [{ type: "value", minInterval: 1 }, { type: "value", max: 100, axisLabel: { formatter: "{value}%" } }],
    grid: { bottom: 80 },
    series: [
      { name: "件数", type: "bar", data: pa.counts },
      { name: "累计占比", type: "line", yAxisIndex: 1, data: pa.cumulative,
        markLine: { silent: true, symbol: "none", data: [{ yAxis: 80 }] } }
    ]
  }, function (p) { return p.seriesIndex === 0 ? pa.urls[p.dataIndex] : null; });

  var hm = data.heatmap;
  make("chart-heatmap", {
    tooltip: { position: "top" },
    grid: { left: 100, bottom: 60 },
    xAxis: { type: "category", data: hm.x, axisLabel: { rotate: 30, interval: 0 } },
    yAxis: { type: "category", data: hm.y },
    visualMap: { min: 0, max: Math.max(hm.max, 1), calculable: true, orient: "horizontal", left: "center", bottom: 0 },
    series: [{ type: "heatmap", data: hm.cells, label: { show: true } }]
  }, function (p) { return hm.urls[p.data[0] + "," + p.data[1]]; });

  var rg = data.regions;
  make("chart-regions", {
    tooltip: {},
    grid: { left: 80 },
    xAxis: { type: "value", minInterval: 1 },
    yAxis: { type: "category", data: rg.labels.slice().reverse() },
    series: [{ type: "bar", data: rg.counts.slice().reverse(), label: { show: true, position: "right" } }]
  }, function (p) { return rg.urls[rg.urls.length - 1 - p.dataIndex]; });

  window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
})();
