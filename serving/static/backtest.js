/* The scored history (/backtest/{symbol}) from GET /scores/{symbol}: the probability over the
   whole stored history with the label events (flushes) marked; pick a flush to see what the
   radar said before it. Level bands and the label come from GET /risk/{symbol} when the symbol
   is watched. */
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const SYMBOL = FR.pathSymbol();
  const BEFORE = 24 * 3600, AFTER = 6 * 3600;
  let main = null, overview = null;
  let x = [], p = [], price = null, events = [], selected = null, record = null;
  let thresholds = null;
  let trainedUntil = null; // seconds: scores at or before it are in-sample

  document.title = "FlushRisk · backtest " + SYMBOL;
  $("symbol").textContent = SYMBOL + " backtest";
  $("symbol-link").href = "/symbol/" + encodeURIComponent(SYMBOL);

  function sizeText(s) {
    if (!FR.isNum(s)) return "–";
    return Math.abs(s) >= 1000 ? FR.usd(s) : s.toPrecision(3);
  }

  /** Highest probability within the label's horizon before each flush's first bar. */
  function peakBefore(e) {
    const h = record && FR.isNum(record.horizon_hours) ? record.horizon_hours * 3600 : 3600;
    let peak = null;
    for (let i = 0; i < x.length; i++) {
      if (x[i] >= e.s) break;
      if (x[i] >= e.s - h && p[i] !== null && (peak === null || p[i] > peak)) peak = p[i];
    }
    return peak;
  }

  // The model's alert rule, as the record counts alert bars: " in a calm hour (...)" or "".
  function calmText() {
    const rule = record && record.alert_rule;
    if (!rule || !FR.isNum(rule.calm_hours)) return "";
    return ", in a calm hour: no squeeze of the label in the " + rule.calm_hours + " h before";
  }

  function recordText() {
    if (!record) return events.length ? events.length + " label events in the scored history." : "No label event in the scored history.";
    const h = FR.isNum(record.horizon_hours) ? record.horizon_hours : 1;
    const hText = (h === Math.round(h) ? h.toFixed(0) : h.toFixed(1)) + " h";
    const parts = [];
    if (record.trained_until) {
      parts.push("Out of sample only (after the model's training data, which ends " + FR.utc(record.trained_until) + "; the shaded part of the chart is in-sample and left out).");
    }
    if (!record.out_of_sample_bars) {
      parts.push("Every scored bar lies in the model's training data: this history says nothing about how the model does on new data.");
    } else if (!FR.isNum(record.alert_threshold)) {
      parts.push(record.events + " flush(es) in " + record.out_of_sample_bars.toLocaleString("en-US") + " scored bars. " +
        (record.served_model === false ? "No model serves " + SYMBOL + " in this service, so there is no alert level and no training period to judge by: none is counted as warned, and the flushes follow the default label."
          : "The model states no alert level, so none is counted as warned."));
    } else {
      parts.push("Warned before " + record.warned + " of " + record.events + " flushes" +
        (FR.isNum(record.warned_share) ? " (" + FR.pct(record.warned_share) + ")" : "") +
        ": an alert (≥ " + FR.pct(record.alert_threshold) + calmText() + ") from a bar opening within the " + hText + " horizon before the flush's first bar, never at or after it.");
      if (FR.isNum(record.squeeze_bars) && record.squeeze_bars) {
        parts.push(record.squeeze_bars + " bar(s) at the alert level fell inside a running squeeze: the model's alert rule gives no alert there (squeeze under way), as its evaluation judged it.");
      }
      parts.push("False alarms: " + record.false_alarms + " alert bars with no flush in the " + hText + " after them" +
        (FR.isNum(record.false_alarms_per_week) ? " (" + record.false_alarms_per_week.toFixed(1) + " per week)" : "") +
        ", over the same " + record.out_of_sample_bars.toLocaleString("en-US") + " bars.");
    }
    if (record.events_in_sample) parts.push(record.events_in_sample + " flush(es) in the training data are listed but not counted.");
    return parts.join(" ");
  }

  function drawEvents() {
    $("events-note").textContent = recordText();
    $("events").innerHTML = "<thead><tr><th title='first bar of the flush, UTC'>Flush (UTC)</th><th class=num title='long liquidations of the whole cascade; its peak bar below'>Size</th>" +
      "<th class=num title='highest probability within the horizon before the first bar of the flush'>Peak</th>" +
      "<th title='an alert within the horizon before the flush&#39;s first bar (lead above zero)'>Warned</th></tr></thead><tbody>" +
      events.map((r, i) => {
        const peak = peakBefore(r);
        const warned = r.in_sample ? '<span class="muted">in-sample</span>' : r.warned === true ? (FR.isNum(r.lead_hours) ? r.lead_hours.toFixed(1) + " h ahead" : "yes") :
          r.warned === false ? '<span class="muted">no</span>' : '<span class="muted">–</span>';
        const bars = FR.isNum(r.bars) ? r.bars + " bar(s) from " + FR.utc(r.start || r.time) + " to " + FR.utc(r.end || r.time) : "";
        return '<tr data-i="' + i + '"' + (r.in_sample ? ' class="in-sample"' : "") + '><td title="' + FR.esc(FR.utc(r.start || r.time)) + '">' + FR.esc(FR.utc(r.start || r.time).replace(" UTC", "").slice(5)) +
          '</td><td class="num size">' + sizeText(r.size) + (FR.isNum(r.peak_size) ? '<br><small class="muted" title="' + FR.esc(bars) + '">peak ' + sizeText(r.peak_size) + " " + FR.esc(FR.utc(r.time).slice(11, 16)) + "</small>" : "") +
          '</td><td class="num">' + FR.pct(peak === null ? null : peak / 100) + '</td><td class="warned">' + warned + "</td></tr>";
      }).join("") + "</tbody>";
  }

  function focus(i) {
    if (!events.length) return;
    selected = Math.max(0, Math.min(events.length - 1, i));
    const t = events[selected].t;
    main.setScale("x", { min: t - BEFORE, max: t + AFTER });
    for (const tr of $("events").querySelectorAll("tbody tr")) tr.classList.toggle("sel", Number(tr.dataset.i) === selected);
    const row = $("events").querySelector('tr[data-i="' + selected + '"]');
    if (row) row.scrollIntoView({ block: "nearest" });
  }

  function showRange() {
    if (!main) return;
    $("range").textContent = FR.utc(new Date(main.scales.x.min * 1000).toISOString()) + " → " + FR.utc(new Date(main.scales.x.max * 1000).toISOString());
    if (overview) overview.redraw(false);
  }

  /** Grey shading over the in-sample part (bars the model was trained on), with a note. */
  function inSampleShade() {
    return { hooks: { drawClear: [(u) => {
      if (trainedUntil === null || !x.length || trainedUntil < x[0]) return;
      const { left, top, height } = u.bbox;
      const a = Math.max(left, u.valToPos(x[0], "x", true));
      const b = Math.min(left + u.bbox.width, u.valToPos(trainedUntil, "x", true));
      if (b <= a) return;
      u.ctx.save();
      u.ctx.fillStyle = "rgba(139,152,165,0.16)";
      u.ctx.fillRect(a, top, b - a, height);
      u.ctx.fillStyle = "#8b98a5";
      u.ctx.font = "11px system-ui, sans-serif";
      if (b - a > 90) u.ctx.fillText("in-sample (training data)", a + 6, top + height - 8);
      u.ctx.restore();
    }] } };
  }

  function draw() {
    const el = $("chart");
    const max = Math.max(0.1, ...p.filter((v) => v !== null)) * 1.1;
    const C = FRC.fmt;
    const mk = [];
    const eventTimes = () => events.map((e) => e.t);
    const evY = new Array(x.length).fill(null);
    for (const e of events) { const k = FRC.nearest(x, e.t); if (k >= 0) evY[k] = p[k]; }
    const series = [
      { label: "probability", stroke: "#f0e442", width: 1.5, fill: "rgba(240,228,66,0.06)", value: (u, v) => (v == null ? "–" : C.pct(v)) },
      { label: "flush (label event)", stroke: "#ff8a4c", fill: "#d55e00", paths: () => null, points: { show: true, size: 10, space: 0 },
        value: (u, v) => (v == null ? "–" : "at " + C.pct(v)) },
    ];
    const data = [x, p, evY];
    const axes = [FRC.axis("Probability, %", C.pct)];
    if (price) {
      series.push({ label: "price", stroke: "#e6edf3", width: 1, scale: "usd", value: (u, v) => (v == null ? "–" : "$" + C.price(v)) });
      data.push(price);
      axes.push(FRC.axis("Price, USD", C.price, { scale: "usd", side: 1, grid: { show: false } }));
    }
    main = FRC.make(el, {
      height: 360, data, series, axes,
      scales: { y: { range: () => [0, max] } },
      plugins: [inSampleShade(), FRC.levelBands(thresholds), FRC.eventLines(eventTimes, "#d55e00", () => (selected === null ? null : events[selected].t))],
      cursor: { drag: { x: true, y: false } },
    });
    main.hooks.setScale = main.hooks.setScale || [];
    main.hooks.setScale.push(() => showRange());
    mk.push(main);
    overview = FRC.make($("overview"), {
      height: 110, data: [x, p], legend: false,
      series: [{ label: "probability", stroke: "#8b98a5", width: 1, fill: "rgba(139,152,165,0.12)" }],
      axes: [FRC.axis("Prob., %", C.pct, { size: 50 })],
      scales: { y: { range: () => [0, max] } },
      cursor: { drag: { x: true, y: false, setScale: false } },
      plugins: [FRC.eventLines(eventTimes, "#d55e00"), {
        hooks: {
          setSelect: [(u) => {
            if (u.select.width < 2) return;
            main.setScale("x", { min: u.posToVal(u.select.left, "x"), max: u.posToVal(u.select.left + u.select.width, "x") });
            u.setSelect({ left: 0, width: 0, top: 0, height: 0 }, false);
          }],
          draw: [(u) => {
            if (!main) return;
            const { top, height } = u.bbox;
            const a = u.valToPos(main.scales.x.min, "x", true), b = u.valToPos(main.scales.x.max, "x", true);
            u.ctx.save();
            u.ctx.fillStyle = "rgba(86,180,233,0.18)";
            u.ctx.fillRect(a, top, Math.max(2, b - a), height);
            u.ctx.restore();
          }],
        },
      }],
    });
    mk.push(overview);
    FRC.autoSize(document.querySelector("main"), () => mk);
    showRange();
  }

  async function load() {
    const [scores, risk] = await Promise.all([
      FR.api("/scores/" + encodeURIComponent(SYMBOL)),
      FR.api("/risk/" + encodeURIComponent(SYMBOL) + "?window=24h").catch((err) => {
        if (err instanceof FR.AuthError) throw err;
        return null; // not watched now: the history still shows, without level bands
      }),
    ]);
    const model = risk && risk.model ? risk.model : {};
    thresholds = model.thresholds || null;
    $("verdict-box").innerHTML = FR.verdictHtml(model.track_record);
    const label = model.label || (risk && risk.label);
    if (label) $("label-line").textContent = "Probability of " + label + " as scored at each bar, with the label events marked. Drag on the chart to zoom, double-click to see everything, or pick a flush from the list.";
    x = FR.toSeconds(scores.time || []);
    p = (FR.nums(scores.probability, x.length) || []).map((v) => (v === null ? null : v * 100));
    price = FR.nums(scores.close, x.length);
    record = scores.backtest || null;
    trainedUntil = record && record.trained_until ? Date.parse(record.trained_until) / 1000 : null;
    events = (scores.events || []).map((e) => Object.assign({ t: Date.parse(e.time) / 1000, s: Date.parse(e.start || e.time) / 1000 }, e))
      .filter((e) => isFinite(e.t)).sort((a, b) => a.t - b.t);
    if (risk) FR.markMode(risk.mode, risk.replay_ended);
    if (!x.length) {
      $("chart").innerHTML = '<div class="muted">No scores stored for ' + FR.esc(SYMBOL) + " yet: run <code>flushrisk score</code> or <code>flushrisk watch</code>.</div>";
      return;
    }
    draw();
    drawEvents();
    document.body.dataset.points = String(x.length);
    document.body.dataset.events = String(events.length);
    document.body.dataset.inSample = trainedUntil !== null && x.length && trainedUntil >= x[0] ? "1" : "";
    document.body.dataset.priceLine = price ? "1" : "";
    if (record && FR.isNum(record.warned_share)) document.body.dataset.warnedShare = String(record.warned_share);
    FR.status($("status"), true, x.length.toLocaleString("en-US") + " scored bars · " + events.length + " flushes");
  }

  $("events").addEventListener("click", (e) => { const tr = e.target.closest("tr[data-i]"); if (tr) focus(Number(tr.dataset.i)); });
  $("prev").addEventListener("click", () => focus(selected === null ? events.length - 1 : selected - 1));
  $("next").addEventListener("click", () => focus(selected === null ? 0 : selected + 1));
  $("all").addEventListener("click", () => { selected = null; main.setScale("x", { min: x[0], max: x[x.length - 1] }); });
  $("key-button").addEventListener("click", () => { FR.forgetKey(); FR.askForKey(); });
  load().catch((err) => { FR.status($("status"), false, "failed"); FR.showError($("error"), err); });
})();
