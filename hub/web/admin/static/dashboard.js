/* The dashboard's charts (Apache ECharts, served by the hub): drawn from the figures the page
   embeds as JSON (#dashboard-data), again after each htmx refresh of the figures. The same
   figures are in the tables under the charts, for a browser without JavaScript. */
(function () {
  "use strict";
  var drawn = [];
  var STATUS_COLOURS = {
    "已送达": "#067647", "已发送": "#4e9a6b", "发送中": "#7aa6f0", "排队中": "#9db5e8",
    "暂缓": "#e0a526", "未发送": "#b8bec7", "失败": "#d9534f", "死信": "#8b1a1a"
  };

  function chart(id, option) {
    var node = document.getElementById(id);
    if (!node) { return; }
    var instance = echarts.init(node, null, { renderer: "canvas" });
    instance.setOption(option);
    drawn.push(instance);
  }

  // opts.percent: a 0-100 % axis; opts.legend: false where the card's title already names the
  // one series (评价, 按时办结率). The plot starts below the legend, and lower again when bars
  // carry a value label on top, so a full bar's label (100%) never covers the legend.
  function bars(categories, series, opts) {
    var percent = opts && opts.percent;
    var legend = !(opts && opts.legend === false);
    var labelled = series.some(function (s) { return s.label && s.label.show; });
    return {
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      legend: { show: legend, top: 0, type: "scroll" },
      grid: { left: 8, right: 16, bottom: 8, top: (legend ? 36 : 12) + (labelled ? 20 : 0),
              containLabel: true },
      xAxis: { type: "category", data: categories, axisLabel: { interval: 0, rotate: categories.length > 6 ? 30 : 0 } },
      yAxis: percent ? { type: "value", max: 100, axisLabel: { formatter: "{value}%" } }
                     : { type: "value", minInterval: 1 },
      series: series
    };
  }

  function sends(data) {
    var month = data.windows[data.windows.length - 1];
    if (!month.by_channel.length) { return; }
    var channels = month.by_channel.map(function (row) { return row.channel; });
    var statuses = data.statuses.filter(function (s) {
      return month.by_channel.some(function (row) { return row.counts[s] > 0; });
    });
    chart("chart-sends", bars(channels, statuses.map(function (s) {
      return { name: s, type: "bar", stack: "sends", itemStyle: { color: STATUS_COLOURS[s] },
               data: month.by_channel.map(function (row) { return row.counts[s] || 0; }) };
    })));
  }

  function ratings(data) {
    var colours = ["#067647", "#4e9a6b", "#e0a526", "#e07b26", "#d9534f"];
    chart("chart-ratings", bars(data.ratings.map(function (r) { return r.label; }), [{
      name: "评价", type: "bar",
      data: data.ratings.map(function (r, i) { return { value: r.count, itemStyle: { color: colours[i] } }; })
    }], { legend: false }));
  }

  function departments(data) {
    if (!data.departments.length) { return; }
    var names = data.departments.map(function (d) { return d.name; });
    chart("chart-ontime", bars(names, [{
      name: "按时办结率", type: "bar", itemStyle: { color: "#1d4ed8" },
      data: data.departments.map(function (d) {
        return d.on_time_rate === null ? null : Math.round(d.on_time_rate * 1000) / 10;
      }),
      label: { show: true, position: "top", formatter: "{c}%" }
    }], { percent: true, legend: false }));
    chart("chart-tickets", bars(names, [
      { name: "在办", type: "bar", itemStyle: { color: "#7aa6f0" },
        data: data.departments.map(function (d) { return d.open; }) },
      { name: "超期", type: "bar", itemStyle: { color: "#d9534f" },
        data: data.departments.map(function (d) { return d.overdue; }) }
    ]));
  }

  function visits(data) {
    if (!data.compliance) { return; }
    var tiers = data.compliance.tiers.filter(function (t) { return t.name !== "合计"; });
    var colours = ["#067647", "#e0a526", "#d9534f", "#7aa6f0", "#b8bec7"];
    chart("chart-visits", bars(tiers.map(function (t) { return t.name; }),
      data.compliance.states.map(function (s, i) {
        return { name: s, type: "bar", stack: "visits", itemStyle: { color: colours[i] },
                 data: tiers.map(function (t) { return t[s]; }) };
      })));
  }

  function draw() {
    var node = document.getElementById("dashboard-data");
    if (!node || typeof echarts === "undefined") { return; }
    drawn.forEach(function (instance) { instance.dispose(); });
    drawn = [];
    var data = JSON.parse(node.textContent);
    sends(data);
    ratings(data);
    departments(data);
    visits(data);
  }

  document.addEventListener("DOMContentLoaded", draw);
  document.addEventListener("htmx:afterSettle", function (event) {
    if (event.target && event.target.id === "dashboard-figures") { draw(); }
  });
  window.addEventListener("resize", function () {
    drawn.forEach(function (instance) { instance.resize(); });
  });
}());
