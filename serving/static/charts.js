/* uPlot helpers shared by the symbol and backtest pages: dark axes with labels and units, UTC
   time, risk-level bands, event markers, and charts that zoom and hover together. */
(function () {
  "use strict";
  const GRID = { stroke: "#222b35", width: 1 };
  const TICKS = { stroke: "#2a3440", width: 1, size: 4 };
  const BAND_FILL = { elevated: "rgba(240,228,66,0.10)", high: "rgba(230,159,0,0.14)", extreme: "rgba(213,94,0,0.20)" };

  function axis(label, format, extra) {
    return Object.assign({
      stroke: "#8b98a5", grid: GRID, ticks: TICKS, font: "11px system-ui, sans-serif",
      labelFont: "600 11px system-ui, sans-serif", label, labelSize: 16, size: 62,
      values: format ? (u, splits) => splits.map((v) => (v == null ? "" : format(v))) : undefined,
    }, extra || {});
  }

  /** Four evenly spaced ticks over the drawn range, labelled with as many digits as it takes
      for them to differ (an open-interest chart moving 0.4 % must not read "$1.2B" four times). */
  function spreadTicks(format) {
    const compact = (v, d) => {
      const a = Math.abs(v);
      if (a >= 1e9) return (v / 1e9).toFixed(d) + "B";
      if (a >= 1e6) return (v / 1e6).toFixed(d) + "M";
      if (a >= 1e3) return (v / 1e3).toFixed(d) + "k";
      return v.toFixed(d);
    };
    return {
      splits: (u, axisIdx, min, max) => {
        if (!isFinite(min) || !isFinite(max)) return [];
        if (max <= min) return [min];
        return [0, 1, 2, 3].map((k) => min + (k * (max - min)) / 3);
      },
      values: (u, splits) => {
        const first = splits.map((v) => (v == null ? "" : format(v)));
        if (new Set(first).size === first.length) return first;
        const prefix = String(format(splits[0] || 0)).startsWith("$") ? "$" : "";
        for (let d = 1; d <= 6; d++) {
          const labels = splits.map((v) => prefix + compact(v, d));
          if (new Set(labels).size === labels.length) return labels;
        }
        return splits.map((v) => prefix + v.toPrecision(8));
      },
    };
  }

  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  const pad = (n) => (n < 10 ? "0" : "") + n;

  /** 24-hour UTC ticks: "14:00", with the date under the first tick of each day. */
  function timeTicks(u, splits, axisIdx, space, incr) {
    let lastDay = null;
    return splits.map((ts) => {
      const d = new Date(ts * 1000);
      const day = MONTHS[d.getUTCMonth()] + " " + d.getUTCDate();
      const hm = pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes());
      if (incr >= 86400) return day;
      const text = day !== lastDay ? hm + "\n" + day : hm;
      lastDay = day;
      return text;
    });
  }

  function timeAxis() {
    return { stroke: "#8b98a5", grid: GRID, ticks: TICKS, font: "11px system-ui, sans-serif",
      labelFont: "600 11px system-ui, sans-serif", label: "Time (UTC)", labelSize: 16, space: 70,
      values: timeTicks };
  }

  const fmt = {
    pct: (v) => (Math.abs(v) < 1 ? v.toFixed(2) : v.toFixed(1)) + " %",      // values already in %
    pct3: (v) => v.toFixed(3) + " %",
    usd: (v) => FR.usd(v),
    price: (v) => (Math.abs(v) >= 1000 ? v.toLocaleString("en-US", { maximumFractionDigits: 0 }) :
      Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(3)),
  };

  /** Translucent horizontal bands from the risk thresholds (probabilities as fractions). */
  function levelBands(thresholds, scale) {
    const f = scale || 100;
    return {
      hooks: {
        drawClear: [(u) => {
          if (!thresholds) return;
          const ctx = u.ctx, { left, top, width, height } = u.bbox;
          const names = ["elevated", "high", "extreme"].filter((k) => FR.isNum(thresholds[k]));
          ctx.save();
          ctx.beginPath(); ctx.rect(left, top, width, height); ctx.clip();
          names.forEach((name, i) => {
            const lo = thresholds[name] * f;
            const hi = i + 1 < names.length ? thresholds[names[i + 1]] * f : u.scales.y.max;
            if (hi <= lo) return;
            const y0 = u.valToPos(lo, "y", true), y1 = u.valToPos(Math.min(hi, u.scales.y.max), "y", true);
            ctx.fillStyle = BAND_FILL[name];
            ctx.fillRect(left, y1, width, y0 - y1);
            ctx.fillStyle = FR.LEVEL_COLOURS[name];
            ctx.font = 10 * devicePixelRatio + "px system-ui, sans-serif";
            ctx.textAlign = "left";
            ctx.textBaseline = "top";
            if (y1 + 12 * devicePixelRatio < y0 || i + 1 === names.length) ctx.fillText(name + " ≥ " + fmt.pct(lo), left + 6, y1 + 3 * devicePixelRatio);
          });
          ctx.restore();
        }],
      },
    };
  }

  /** Vertical dashed lines at the given Unix-second times (label events, flushes). */
  function eventLines(getTimes, colour, selectedTime) {
    return {
      hooks: {
        draw: [(u) => {
          const times = getTimes();
          if (!times || !times.length) return;
          const ctx = u.ctx, { left, top, width, height } = u.bbox;
          ctx.save();
          ctx.beginPath(); ctx.rect(left, top, width, height); ctx.clip();
          ctx.strokeStyle = colour;
          ctx.lineWidth = 1.5 * devicePixelRatio;
          ctx.setLineDash([4 * devicePixelRatio, 3 * devicePixelRatio]);
          for (const t of times) {
            if (t < u.scales.x.min || t > u.scales.x.max) continue;
            const x = u.valToPos(t, "x", true);
            ctx.globalAlpha = selectedTime && selectedTime() === t ? 1 : 0.65;
            ctx.beginPath(); ctx.moveTo(x, top); ctx.lineTo(x, top + height); ctx.stroke();
          }
          ctx.restore();
        }],
      },
    };
  }

  /** A group of charts sharing the x axis: hover and zoom in one moves all of them. */
  function group(key) {
    const charts = [];
    let syncing = false;
    return {
      charts,
      hooks: {
        setScale: [(u, scaleKey) => {
          if (scaleKey !== "x" || syncing) return;
          syncing = true;
          for (const other of charts) {
            if (other !== u && (other.scales.x.min !== u.scales.x.min || other.scales.x.max !== u.scales.x.max)) {
              other.setScale("x", { min: u.scales.x.min, max: u.scales.x.max });
            }
          }
          syncing = false;
        }],
      },
      cursor: { sync: { key, setSeries: false } },
      add(u) { charts.push(u); return u; },
      destroy() { while (charts.length) charts.pop().destroy(); },
    };
  }

  /** One chart inside ``el`` (a div that gets a title line and the canvas). */
  function make(el, spec) {
    const width = Math.max(320, el.clientWidth || 800);
    const opts = {
      width, height: spec.height || 200,
      tzDate: spec.timeX === false ? undefined : FR.utcDate,
      scales: Object.assign({ x: { time: spec.timeX !== false } }, spec.scales || {}),
      series: [{ label: spec.xLabel || "time (UTC)", value: spec.xValue }].concat(spec.series),
      axes: [spec.xAxis || timeAxis()].concat(spec.axes),
      legend: { show: spec.legend !== false, live: true },
      cursor: Object.assign({ drag: { x: true, y: false } }, spec.group ? spec.group.cursor : {},
        spec.cursor || {}),
      plugins: spec.plugins || [],
      hooks: spec.group ? spec.group.hooks : {},
      padding: [8, 8, 0, 4],
    };
    if (spec.bands) opts.bands = spec.bands;
    const u = new uPlot(opts, spec.data, el);
    if (spec.group) spec.group.add(u);
    return u;
  }

  /** Keep chart widths equal to their containers. */
  function autoSize(container, getCharts) {
    let last = container.clientWidth;
    const ro = new ResizeObserver(() => {
      const w = container.clientWidth;
      if (Math.abs(w - last) < 4) return;
      last = w;
      for (const u of getCharts()) u.setSize({ width: Math.max(320, u.root.parentElement.clientWidth), height: u.height });
    });
    ro.observe(container);
    return ro;
  }

  function bars(align) {
    return uPlot.paths.bars({ size: [0.7, 12], align: align || 0 });
  }

  /** Index of the element of sorted ``xs`` nearest to ``x``. */
  function nearest(xs, x) {
    let lo = 0, hi = xs.length - 1;
    if (hi < 0) return -1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (xs[mid] <= x) lo = mid; else hi = mid;
    }
    return Math.abs(xs[lo] - x) <= Math.abs(xs[hi] - x) ? lo : hi;
  }

  window.FRC = { axis, spreadTicks, timeAxis, fmt, levelBands, eventLines, group, make, autoSize, bars, nearest };
})();
