// The dashboard's charts (ECharts, vendored): the data is the page's own JSON block.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("chart-data").textContent);
  var small = window.innerWidth < 600;
  function draw(id, option) {
    var el = document.getElementById(id);
    if (!el || !window.echarts) { return; }
    var chart = echarts.init(el, null, { renderer: "svg" });
    chart.setOption(option);
    window.addEventListener("resize", function () { chart.resize(); });
  }
  draw("chart-stages", {
    tooltip: {}, grid: { left: 40, right: 10, top: 10, bottom: 30 },
    xAxis: { type: "category", data: data.stages.map(function (s) { return s.name; }) },
    yAxis: { type: "value", minInterval: 1 },
    series: [{ type: "bar", data: data.stages.map(function (s) { return s.value; }),
               itemStyle: { color: "#b3261e" } }]
  });
  draw("chart-categories", {
    tooltip: { trigger: "item" }, legend: { show: !small, bottom: 0 },
    series: [{ type: "pie", radius: small ? "60%" : ["35%", "65%"], data: data.categories }]
  });
  draw("chart-trend", {
    tooltip: { trigger: "axis" },
    legend: { data: [data.trend.labels.submitted, data.trend.labels.closed] },
    grid: { left: 40, right: 10, top: 30, bottom: 30 },
    xAxis: { type: "category", data: data.trend.days },
    yAxis: { type: "value", minInterval: 1 },
    series: [
      { name: data.trend.labels.submitted, type: "line", data: data.trend.submitted },
      { name: data.trend.labels.closed, type: "line", data: data.trend.closed }
    ]
  });
})();
