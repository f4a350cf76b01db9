// Charts of the dashboard, drawn with the vendored uPlot, in the manner of TensorBoard: each kind of
// quantity on its own axes (losses; errors as percentages; each score), smoothing by TensorBoard's
// debiased exponential moving average with the raw curve kept faint behind it, a log scale for the
// losses, and charts as wide as their column (they follow the window).
// A run page's charts poll the run's metrics.json every few seconds while the run is active; the
// comparison page draws the test-error curves of its runs from data embedded in the page.
(function () {
  "use strict";
  const POLL_MS = 3000;
  const COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"];

  // TensorBoard's smoothing (tensorboard/plugins/scalar, "debiased" EMA): gaps stay gaps.
  function smooth(values, weight) {
    if (!weight) return values;
    let last = 0, n = 0;
    return values.map((v) => {
      if (v === null || !Number.isFinite(v)) return null;
      last = last * weight + (1 - weight) * v;
      n += 1;
      return last / (1 - Math.pow(weight, n));
    });
  }

  // uPlot wants one x array shared by every series: merge the steps, leave gaps where a series has none.
  function align(series, weight) {
    const steps = Array.from(new Set(series.flatMap((s) => s.steps))).sort((a, b) => a - b);
    const index = new Map(steps.map((step, i) => [step, i]));
    const columns = [];
    for (const s of series) {
      const column = new Array(steps.length).fill(null);
      s.steps.forEach((step, i) => { column[index.get(step)] = s.values[i]; });
      columns.push(column);
      if (weight) columns.push(smooth(column, weight));
    }
    return [steps, ...columns];
  }

  const percent = (v) => (v === null ? "" : (100 * v).toPrecision(3) + "%");
  // The results page of a study draws its own kinds of chart in the same colours and number format.
  window.vtlCharts = { COLOURS: COLOURS, percent: percent };

  function options(group, width, state) {
    const log = group.loggable && state.log;
    const positive = group.series.every((s) => s.values.every((v) => v === null || v > 0));
    const lines = [];
    group.series.forEach((s, i) => {
      const colour = COLOURS[i % COLOURS.length];
      const value = group.percent ? (u, v) => percent(v) : undefined;
      if (state.smoothing) {
        lines.push({ label: s.label + " (raw)", stroke: colour + "40", width: 1, spanGaps: true, value: value });
        lines.push({ label: s.label, stroke: colour, width: 1.5, spanGaps: true, value: value });
      } else {
        lines.push({ label: s.label, stroke: colour, width: 1.5, spanGaps: true, value: value });
      }
    });
    const y = log ? (positive ? { distr: 3 } : { distr: 4, asinh: 1 }) : {};
    return {
      title: group.title + (log ? (positive ? " (log scale)" : " (symmetric log scale)") : ""),
      width: width,
      height: 240,
      scales: { x: { time: false }, y: y },
      axes: [{ label: "step" }, group.percent ? { values: (u, ticks) => ticks.map(percent), size: 60 } : { size: 60 }],
      series: [{ label: "step" }].concat(lines),
    };
  }

  // The raw curves' rows would double the legend: the smoothed row's colour names both.
  function plot(opts, data, box) {
    const u = new uPlot(opts, data, box);
    u.series.forEach((s, i) => {
      const row = u.root.querySelectorAll(".u-legend .u-series")[i];
      if (row && / \(raw\)$/.test(s.label)) row.style.display = "none";
    });
    return u;
  }

  function controls(root) {
    const box = root.dataset.controls && document.getElementById(root.dataset.controls);
    const log = box && box.querySelector("#log-scale");
    const slider = box && box.querySelector("#smoothing");
    const shown = box && box.querySelector("#smoothing-value");
    return {
      read: () => ({ log: !!(log && log.checked), smoothing: slider ? Number(slider.value) : 0 }),
      onChange: (redraw) => {
        if (log) log.addEventListener("change", redraw);
        if (slider) slider.addEventListener("input", () => { if (shown) shown.textContent = Number(slider.value).toFixed(2); redraw(); });
      },
    };
  }

  // One chart per group, kept between refreshes and rebuilt only when its series or the settings change.
  class Board {
    constructor(root) {
      this.root = root;
      this.charts = new Map();
      this.groups = [];
      this.controls = controls(root);
      this.controls.onChange(() => this.draw(this.groups, false));
      // Charts follow their column's width: a phone held upright, a window resized, a sidebar opened.
      new ResizeObserver(() => {
        for (const entry of this.charts.values()) entry.plot.setSize({ width: this.width(entry.box), height: 240 });
      }).observe(root);
    }

    // The chart's own grid cell, less its padding.
    width(box) { return Math.max(160, box.clientWidth - 10); }

    draw(groups, rebuild) {
      this.groups = groups;
      const state = this.controls.read();
      for (const group of groups) {
        const key = group.series.map((s) => s.label).join("\u0000") + "|" + state.log + "|" + (state.smoothing > 0);
        const entry = this.charts.get(group.title);
        const data = align(group.series, state.smoothing);
        if (!entry) {
          const box = document.createElement("div");
          box.className = "chart";
          box.dataset.title = group.title;
          this.root.appendChild(box);
          this.charts.set(group.title, { key: key, box: box, plot: plot(options(group, this.width(box), state), data, box) });
        } else if (entry.key !== key || rebuild) {
          // New series or settings: a new plot in the same place.
          entry.plot.destroy();
          entry.plot = plot(options(group, this.width(entry.box), state), data, entry.box);
          entry.key = key;
        } else {
          entry.plot.setData(data);
        }
      }
    }
  }

  // Losses share one chart (log scale on demand); error rates get one on a percentage axis; every other
  // evaluation and score series its own (their scales differ).
  function runGroups(json) {
    const losses = [], errors = [], others = [];
    for (const [name, s] of Object.entries(json.series)) {
      const series = { label: name, steps: s.steps, values: s.values };
      // An error rate is no loss, whichever the loop reported it as (train_error comes with the losses).
      if (/error/.test(name)) errors.push(series);
      else if (s.kind === "loss") losses.push(series);
      else others.push({ title: name, series: [series] });
    }
    const groups = [];
    if (losses.length) groups.push({ title: "losses", series: losses, loggable: true });
    if (errors.length) groups.push({ title: "error rates", series: errors, percent: true });
    return groups.concat(others);
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
    if (series.length) new Board(root).draw([{ title: "test error", series: series, percent: true }]);
    else root.textContent = "No evaluations yet.";
  }

  // The sample grids' slider: every saved grid, the newest by default. The live section is replaced
  // every few seconds while the run trains; a step picked by hand stays picked across replacements.
  let pinnedStep = null;
  function showGrid(slider) {
    const steps = slider.dataset.steps.split(",");
    const step = steps[Number(slider.value)];
    const img = document.getElementById("sample-grid");
    img.src = img.dataset.src + step;
    img.alt = "generated samples at step " + step;
    document.getElementById("sample-step").textContent = Number(step).toLocaleString("en");
    return step;
  }
  function restoreGrid() {
    const slider = document.getElementById("sample-slider");
    if (!slider || pinnedStep === null) return;
    const index = slider.dataset.steps.split(",").indexOf(pinnedStep);
    if (index >= 0) { slider.value = String(index); showGrid(slider); }
  }
  document.addEventListener("input", (event) => {
    if (event.target.id !== "sample-slider") return;
    const slider = event.target;
    const step = showGrid(slider);
    pinnedStep = Number(slider.value) === Number(slider.max) ? null : step;
  });
  document.addEventListener("htmx:afterSwap", restoreGrid);

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("[data-metrics-url]").forEach(watchRun);
    document.querySelectorAll("[data-curves]").forEach(drawCurves);
  });
})();
