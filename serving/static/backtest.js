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
  let x = [], p = [], events = [], selected = null;
  let thresholds = null;

  document.title = "FlushRisk · backtest " + SYMBOL;
  $("symbol").textContent = SYMBOL + " backtest";
  $("symbol-link").href = "/symbol/" + encodeURIComponent(SYMBOL);

  function sizeText(s) {
    if (!FR.isNum(s)) return "–";
    return Math.abs(s) >= 1000 ? FR.usd(s) : s.toPrecision(3);
  }

  /** What the radar said before each event: peak probability in the 6 h before, first alert. */
  function summarise(alertAt) {
    return events.map((e) => {
      const t = e.t;
      const from = FRC.nearest(x, t - BEFORE), to = FRC.nearest(x, t);
      let peak = null, firstAlert = null;
      for (let i = Math.max(0, from); i <= to && i < x.length; i++) {
        if (x[i] > t) break;
        const v = p[i];
        if (v === null) continue;
        if (x[i] >= t - 6 * 3600 && (peak === null || v > peak)) peak = v;
        if (firstAlert === null && FR.isNum(alertAt) && v >= alertAt) firstAlert = x[i];
      }
      return Object.assign({}, e, { peak, lead: firstAlert === null ? null : (t - firstAlert) / 3600 });
    });
  }

  function drawEvents(alertAt) {
    const rows = summarise(alertAt);
    $("events-note").textContent = rows.length ? rows.length + " label events in the scored history. " +
      (FR.isNum(alertAt) ? "“Warned” = the probability reached the alert level (" + FR.pct(alertAt / 100) + ") in the 24 h before." : "") : "No label event in the scored history.";
    $("events").innerHTML = "<thead><tr><th>Flush (UTC)</th><th class=num>Size</th><th class=num title='highest probability in the 6 h before the flush'>Peak, 6 h</th><th title='did the probability reach the alert level in the 24 h before?'>Warned</th></tr></thead><tbody>" +
      rows.map((r, i) => '<tr data-i="' + i + '"><td>' + FR.esc(FR.utc(r.time).replace(" UTC", "")) + '</td><td class="num">' + sizeText(r.size) +
        '</td><td class="num">' + FR.pct(r.peak === null ? null : r.peak / 100) + "</td><td>" + (r.lead === null ? '<span class="muted">no</span>' : r.lead.toFixed(1) + " h ahead") + "</td></tr>").join("") + "</tbody>";
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

  function draw() {
    const el = $("chart");
    const max = Math.max(0.1, ...p.filter((v) => v !== null)) * 1.1;
    const C = FRC.fmt;
    const mk = [];
    const eventTimes = () => events.map((e) => e.t);
    const evY = new Array(x.length).fill(null);
    for (const e of events) { const k = FRC.nearest(x, e.t); if (k >= 0) evY[k] = p[k]; }
    main = FRC.make(el, {
      height: 360, data: [x, p, evY],
      series: [
        { label: "probability", stroke: "#f0e442", width: 1.5, fill: "rgba(240,228,66,0.06)", value: (u, v) => (v == null ? "–" : C.pct(v)) },
        { label: "flush (label event)", stroke: "#ff8a4c", fill: "#d55e00", paths: () => null, points: { show: true, size: 10, space: 0 },
          value: (u, v) => (v == null ? "–" : "at " + C.pct(v)) },
      ],
      axes: [FRC.axis("Probability, %", C.pct)],
      scales: { y: { range: () => [0, max] } },
      plugins: [FRC.levelBands(thresholds), FRC.eventLines(eventTimes, "#d55e00", () => (selected === null ? null : events[selected].t))],
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
    const label = model.label || (risk && risk.label);
    if (label) $("label-line").textContent = "Probability of " + label + " as scored at each bar, with the label events marked. Drag on the chart to zoom, double-click to see everything, or pick a flush from the list.";
    x = FR.toSeconds(scores.time || []);
    p = (FR.nums(scores.probability, x.length) || []).map((v) => (v === null ? null : v * 100));
    events = (scores.events || []).map((e) => Object.assign({ t: Date.parse(e.time) / 1000 }, e)).filter((e) => isFinite(e.t)).sort((a, b) => a.t - b.t);
    if (!x.length) {
      $("chart").innerHTML = '<div class="muted">No scores stored for ' + FR.esc(SYMBOL) + " yet: run <code>flushrisk score</code> or <code>flushrisk watch</code>.</div>";
      return;
    }
    draw();
    const alertAt = FR.isNum(model.alert_threshold) ? model.alert_threshold * 100 : thresholds && FR.isNum(thresholds.high) ? thresholds.high * 100 : null;
    drawEvents(alertAt === null ? null : alertAt);
    document.body.dataset.points = String(x.length);
    document.body.dataset.events = String(events.length);
    FR.status($("status"), true, x.length.toLocaleString("en-US") + " scored bars · " + events.length + " flushes");
  }

  $("events").addEventListener("click", (e) => { const tr = e.target.closest("tr[data-i]"); if (tr) focus(Number(tr.dataset.i)); });
  $("prev").addEventListener("click", () => focus(selected === null ? events.length - 1 : selected - 1));
  $("next").addEventListener("click", () => focus(selected === null ? 0 : selected + 1));
  $("all").addEventListener("click", () => { selected = null; main.setScale("x", { min: x[0], max: x[x.length - 1] }); });
  $("key-button").addEventListener("click", () => { FR.forgetKey(); FR.askForKey(); });
  load().catch((err) => { FR.status($("status"), false, "failed"); FR.showError($("error"), err); });
})();
