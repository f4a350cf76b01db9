// The results page's charts, drawn with the vendored uPlot in the dashboard's manner (its colours and percentage
// format, from runs/charts.js; charts as wide as their column, following the window): the forest plot of error
// per pool, the learning curve per arm with its interval bands, and human error against each automatic score with
// both error bars and the fitted line. The numbers come from the page's JSON (json_script "results-chart-data");
// labels reach the canvas as text, never as HTML.
(function () {
  "use strict";
  const HEIGHT = 280;
  const DASH = [6, 4];
  const GREY = "#666";
  const { COLOURS, percent } = window.vtlCharts;
  const fixed = (v) => (v === null || v === undefined ? "" : Number(v).toPrecision(4).replace(/\.?0+$/, ""));
  const finite = (v) => v !== null && v !== undefined && Number.isFinite(v);
  // Ticks are round: 20% rather than 20.0%.
  const percentAxis = { values: (u, ticks) => ticks.map((v) => +(100 * v).toFixed(1) + "%"), size: 56 };
  const FONT = "12px system-ui, sans-serif";
  const measure = document.createElement("canvas").getContext("2d");
  measure.font = FONT;
  const textWidth = (text) => measure.measureText(text).width;

  function width(box) { return Math.max(160, box.clientWidth - 10); }

  // A whisker from (x0, y0) to (x1, y1) in canvas pixels, with short caps across its ends.
  function whisker(ctx, x0, y0, x1, y1, cap) {
    const vertical = x0 === x1;
    ctx.beginPath();
    ctx.moveTo(x0, y0);
    ctx.lineTo(x1, y1);
    for (const [x, y] of [[x0, y0], [x1, y1]]) {
      if (vertical) { ctx.moveTo(x - cap, y); ctx.lineTo(x + cap, y); }
      else { ctx.moveTo(x, y - cap); ctx.lineTo(x, y + cap); }
    }
    ctx.stroke();
  }

  function withPen(u, colour, dash, draw) {
    const ctx = u.ctx;
    ctx.save();
    ctx.strokeStyle = colour;
    ctx.fillStyle = colour;
    ctx.lineWidth = devicePixelRatio * 1.5;
    ctx.setLineDash(dash.map((d) => d * devicePixelRatio));
    ctx.beginPath();
    ctx.rect(u.bbox.left, u.bbox.top, u.bbox.width, u.bbox.height);
    ctx.clip();
    draw(ctx);
    ctx.restore();
  }

  const pointsOnly = (label, colour, value) => ({
    label: label, stroke: colour, fill: colour, value: value,
    paths: () => null, points: { show: true, size: 8, fill: colour, stroke: colour },
  });

  // Error per pool, one row each, the value axis across: a generated pool's fake error and the real images' real
  // error, each with its interval, and chance as a dashed line.
  function forest(box, data) {
    const rows = data.forest;
    if (!rows.length) { box.textContent = "No judgments of generated or real images yet."; return null; }
    const index = rows.map((_, i) => i);
    const labels = rows.map((r) => (r.label.length > 22 ? r.label.slice(0, 21) + "…" : r.label));
    const column = (kind) => rows.map((r) => (r.kind === kind ? r.value : null));
    const colour = (r) => (r.kind === "real error" ? COLOURS[1] : COLOURS[0]);
    const value = (u, v) => (v === null ? "" : percent(v));
    const opts = {
      width: width(box),
      height: Math.max(140, 60 + 34 * rows.length),
      title: "error per pool (95% Wilson intervals)",
      // The pools down the side, first at the top; the error across.
      scales: { x: { time: false, ori: 1, dir: -1, range: [-0.6, rows.length - 0.4] }, y: { ori: 0, range: [0, 1] } },
      axes: [
        { scale: "x", side: 3, splits: () => index, values: (u, ticks) => ticks.map((t) => labels[t] || ""),
          font: FONT, size: Math.ceil(20 + Math.max(...labels.map(textWidth))), grid: { show: false } },
        Object.assign({ scale: "y", side: 2 }, percentAxis),
      ],
      series: [
        { label: "pool", value: (u, i) => (i === null || rows[i] === undefined ? "" : rows[i].label) },
        pointsOnly("fake error", COLOURS[0], value),
        pointsOnly("real error", COLOURS[1], value),
        { label: "chance (" + percent(data.chance) + ")", stroke: GREY, dash: DASH, paths: () => null, points: { show: false }, value: () => "" },
      ],
      legend: { live: true },
      hooks: {
        draw: [(u) => {
          const x = u.valToPos(data.chance, "y", true);
          withPen(u, GREY, DASH, (ctx) => { ctx.beginPath(); ctx.moveTo(x, u.bbox.top); ctx.lineTo(x, u.bbox.top + u.bbox.height); ctx.stroke(); });
          rows.forEach((r, i) => {
            if (!finite(r.low) || !finite(r.high)) return;
            const y = u.valToPos(i, "x", true);
            withPen(u, colour(r), [], (ctx) => whisker(ctx, u.valToPos(r.low, "y", true), y, u.valToPos(r.high, "y", true), y, 4 * devicePixelRatio));
          });
        }],
      },
    };
    return new uPlot(opts, [index, column("fake error"), column("real error"), rows.map(() => null)], box);
  }

  // Accuracy per block of trials, one line per arm with its interval as a band behind it (none for an arm of one
  // annotator: the page says why), and chance.
  function curve(box, data) {
    const arms = data.curve.arms;
    if (!arms.length) { box.textContent = "No judgments yet."; return null; }
    const half = data.curve.bin / 2;
    const xs = Array.from(new Set(arms.flatMap((a) => a.points.map((p) => p.trial + half)))).sort((a, b) => a - b);
    const at = new Map(xs.map((x, i) => [x, i]));
    const columns = arms.map((arm) => {
      const col = { accuracy: new Array(xs.length).fill(null), low: new Array(xs.length).fill(null), high: new Array(xs.length).fill(null) };
      arm.points.forEach((p) => { const i = at.get(p.trial + half); col.accuracy[i] = p.accuracy; col.low[i] = p.low; col.high[i] = p.high; });
      return col;
    });
    const value = (u, v) => (v === null ? "" : percent(v));
    const series = [{ label: "trial", value: (u, v) => (v === null ? "" : "trials " + (v - half) + "–" + (v + half - 1)) }];
    arms.forEach((arm, i) => {
      const label = arm.condition.replace("_", " ") + " (" + arm.annotators + " annotator" + (arm.annotators === 1 ? "" : "s") + (arm.interval ? "" : ", no band") + ")";
      series.push({ label: label, stroke: COLOURS[i % COLOURS.length], width: 1.5, spanGaps: true, value: value, points: { show: true, size: 6 } });
    });
    series.push({ label: "chance (" + percent(data.chance) + ")", stroke: GREY, dash: DASH, width: 1, value: value, points: { show: false } });
    const opts = {
      width: width(box),
      height: HEIGHT,
      title: "accuracy over trials, per arm (95% Wilson bands)",
      scales: { x: { time: false }, y: { range: [0, 1] } },
      axes: [{ label: "trial" }, percentAxis],
      series: series,
      hooks: {
        // Bands go under the lines: drawn once the axes are, before the series.
        drawAxes: [(u) => {
          columns.forEach((col, a) => {
            if (!arms[a].interval) return;
            const kept = xs.map((x, i) => i).filter((i) => finite(col.low[i]) && finite(col.high[i]));
            if (!kept.length) return;
            withPen(u, COLOURS[a % COLOURS.length] + "33", [], (ctx) => {
              ctx.beginPath();
              kept.forEach((i, k) => { const x = u.valToPos(xs[i], "x", true), y = u.valToPos(col.high[i], "y", true); if (k) ctx.lineTo(x, y); else ctx.moveTo(x, y); });
              kept.slice().reverse().forEach((i) => ctx.lineTo(u.valToPos(xs[i], "x", true), u.valToPos(col.low[i], "y", true)));
              ctx.closePath();
              ctx.fill();
            });
          });
        }],
      },
    };
    return new uPlot(opts, [xs, ...columns.map((c) => c.accuracy), xs.map(() => data.chance)], box);
  }

  // Human error against one score: a point per pool with its human-error interval up and down and the score's
  // spread across (where it has one), and the least-squares line over the pools.
  function scatter(box, data) {
    const s = data.scatters[Number(box.dataset.index)];
    const points = s.points.filter((p) => finite(p.x) && finite(p.y));
    if (!points.length) { box.textContent = "No pools with judgments."; return null; }
    const xs = points.map((p) => p.x);
    const fit = s.fit ? xs.map((x) => s.fit.intercept + s.fit.slope * x) : xs.map(() => null);
    const lows = points.map((p) => (finite(p.x_low) ? p.x_low : p.x));
    const highs = points.map((p) => (finite(p.x_high) ? p.x_high : p.x));
    const xRange = () => {
      let lo = Math.min(...lows), hi = Math.max(...highs);
      const pad = hi > lo ? 0.08 * (hi - lo) : Math.max(0.5, Math.abs(lo) * 0.1);
      return [lo - pad, hi + pad];
    };
    const top = Math.min(1, Math.max(data.chance, ...points.map((p) => (finite(p.high) ? p.high : p.y))) + 0.05);
    const value = (u, v) => (v === null ? "" : percent(v));
    const opts = {
      width: width(box),
      height: HEIGHT,
      title: "human error against " + s.name,
      scales: { x: { time: false, range: xRange }, y: { range: [0, top] } },
      axes: [{ label: s.name, values: (u, ticks) => ticks.map(fixed) }, Object.assign({ label: "human error (fake error)" }, percentAxis)],
      series: [
        // Under the cursor, the legend names the pool as well as its score.
        { label: s.name, value: (u, v, si, i) => (i === null || !points[i] ? "" : points[i].pool + ": " + fixed(v)) },
        pointsOnly("pools (95% Wilson bars" + (s.x_spread ? ", score ± std" : "") + ")", COLOURS[0], value),
        { label: s.fit ? "least-squares fit" : "no fit (fewer than 3 pools or nothing varies)", stroke: COLOURS[1], width: 1.5, value: value, points: { show: false } },
      ],
      hooks: {
        draw: [(u) => {
          const cap = 4 * devicePixelRatio;
          withPen(u, COLOURS[0], [], (ctx) => {
            points.forEach((p) => {
              const x = u.valToPos(p.x, "x", true), y = u.valToPos(p.y, "y", true);
              if (finite(p.low) && finite(p.high)) whisker(ctx, x, u.valToPos(p.low, "y", true), x, u.valToPos(p.high, "y", true), cap);
              if (finite(p.x_low) && finite(p.x_high)) whisker(ctx, u.valToPos(p.x_low, "x", true), y, u.valToPos(p.x_high, "x", true), y, cap);
            });
          });
        }],
      },
    };
    return new uPlot(opts, [xs, points.map((p) => p.y), fit], box);
  }

  const DRAW = { forest: forest, curve: curve, scatter: scatter };

  document.addEventListener("DOMContentLoaded", () => {
    const source = document.getElementById("results-chart-data");
    if (!source) return;
    const data = JSON.parse(source.textContent);
    const charts = [];
    document.querySelectorAll("[data-results-chart]").forEach((box) => {
      const plot = DRAW[box.dataset.resultsChart](box, data);
      if (plot) charts.push({ box: box, plot: plot });
    });
    // Charts follow their column's width: a phone held upright, a window resized.
    const resize = new ResizeObserver(() => {
      for (const c of charts) c.plot.setSize({ width: width(c.box), height: c.plot.height });
    });
    charts.forEach((c) => resize.observe(c.box));
  });
})();
