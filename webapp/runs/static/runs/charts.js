// Charts of the dashboard, drawn with the vendored uPlot.
// A run page's charts poll the run's metrics.json every few seconds while the run is active; the
// comparison page draws the test-error curves of its runs from data embedded in the page.
(function () {
  "use strict";
  const POLL_MS = 3000;
  const COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"];

  // uPlot wants one x array shared by every series: merge the steps, leave gaps where a series has none.
  function align(series) {
    const steps = Array.from(new Set(series.flatMap((s) => s.steps))).sort((a, b) => a - b);
    const index = new Map(steps.map((step, i) => [step, i]));
    const columns = series.map((s) => {
      const column = new Array(steps.length).fill(null);
      s.steps.forEach((step, i) => { column[index.get(step)] = s.values[i]; });
      return column;
    });
    return [steps, ...columns];
  }

  function options(title, labels, width) {
    return {
      title: title,
      width: width,
      height: 240,
      scales: { x: { time: false } },
      axes: [{ label: "step" }, {}],
      series: [{ label: "step" }].concat(labels.map((label, i) => ({
        label: label, stroke: COLOURS[i % COLOURS.length], width: 1.5, spanGaps: true,
      }))),
    };
  }

  // One chart per group, kept between refreshes and rebuilt only when its series change.
  class Board {
    constructor(root) { this.root = root; this.charts = new Map(); }

    draw(groups) {
      for (const [title, series] of groups) {
        const labels = series.map((s) => s.label);
        const key = labels.join("\u0000");
        let entry = this.charts.get(title);
        if (entry && entry.key !== key) { entry.plot.destroy(); entry.box.remove(); entry = null; }
        if (!entry) {
          const box = document.createElement("div");
          box.className = "chart";
          this.root.appendChild(box);
          const width = Math.max(320, Math.min(this.root.clientWidth, 720));
          entry = { key: key, box: box, plot: new uPlot(options(title, labels, width), align(series), box) };
          this.charts.set(title, entry);
        } else {
          entry.plot.setData(align(series));
        }
      }
    }
  }

  // Losses share one chart; every evaluation and score series gets its own (their scales differ).
  function runGroups(json) {
    const groups = new Map();
    const losses = [];
    for (const [name, s] of Object.entries(json.series)) {
      const series = { label: name, steps: s.steps, values: s.values };
      if (s.kind === "loss") losses.push(series);
      else groups.set(name, [series]);
    }
    return losses.length ? new Map([["losses", losses], ...groups]) : groups;
  }

  function watchRun(root) {
    const board = new Board(root);
    const refresh = () => {
      fetch(root.dataset.metricsUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then((response) => (response.ok ? response.json() : Promise.reject(response.status)))
        .then((json) => {
          board.draw(runGroups(json));
          if (json.active) setTimeout(refresh, POLL_MS);
        })
        .catch(() => setTimeout(refresh, 5 * POLL_MS));
    };
    refresh();
  }

  function drawCurves(root) {
    const data = JSON.parse(document.getElementById(root.dataset.curves).textContent);
    const series = Object.entries(data.series).map(([id, s]) => ({ label: data.labels[id], steps: s.steps, values: s.values }));
    if (series.length) new Board(root).draw(new Map([["test error", series]]));
    else root.textContent = "No evaluations yet.";
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("[data-metrics-url]").forEach(watchRun);
    document.querySelectorAll("[data-curves]").forEach(drawCurves);
  });
})();
