/* One market (/symbol/{symbol}) from GET /risk/{symbol}?window=...: time-aligned charts, the
   drivers in plain words, the after-flush read and what the number means. Re-read every few
   seconds without reloading. */
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const SYMBOL = FR.pathSymbol();
  const REFRESH_S = Math.max(2, Number(FR.param("refresh", 10)) || 10);
  let windowName = ["24h", "7d", "30d"].includes(FR.param("window", "")) ? FR.param("window") : "24h";
  let grp = null;
  let layoutKey = "";
  let charts = {}; // name -> {u, build(d) -> data}
  let updates = 0;
  let reliability = null;

  document.title = "FlushRisk · " + SYMBOL;
  $("symbol").textContent = SYMBOL;
  $("backtest-link").href = "/backtest/" + encodeURIComponent(SYMBOL);

  /* ---- chart definitions: each present only when its data is -------------------------- */
  const C = FRC.fmt;
  function defs(d) {
    const h = d.history || {};
    const x = FR.toSeconds(h.time || []);
    const n = x.length;
    const col = (name, f) => {
      const v = FR.nums(h[name], n);
      return v && f ? v.map((a) => (a === null ? null : a * f)) : v;
    };
    const out = [];
    const close = col("close");
    const liqL = col("liq_long_usd"), liqS = col("liq_short_usd");
    if (close || liqL || liqS) {
      const series = [], data = [x], axes = [];
      if (close) {
        series.push({ label: "price", stroke: "#e6edf3", width: 1.5, scale: "usd", value: (u, v) => (v == null ? "–" : "$" + C.price(v)) });
        data.push(close);
        axes.push(FRC.axis("Price, USD", C.price, { scale: "usd" }));
      }
      if (liqL || liqS) {
        series.push({ label: "long liquidations", stroke: "#d55e00", fill: "rgba(213,94,0,0.75)", scale: "liq",
          paths: FRC.bars(-1), points: { show: false }, value: (u, v) => FR.usd(v) });
        data.push(liqL || new Array(n).fill(null));
        series.push({ label: "short liquidations", stroke: "#0072b2", fill: "rgba(0,114,178,0.85)", scale: "liq",
          paths: FRC.bars(1), points: { show: false }, value: (u, v) => FR.usd(v) });
        data.push(liqS || new Array(n).fill(null));
        axes.push(FRC.axis("Liquidations, USD per bar", C.usd, { scale: "liq", side: 1, grid: { show: false } }));
      }
      out.push({ name: "price", title: "<b>Price</b> with long and short liquidations (bars, right axis)", height: 230,
        series, data, axes, scales: { liq: { range: (u, min, max) => [0, Math.max(1, max) * 3] } } });
    }
    const prob = col("probability", 100);
    if (prob) {
      const xs = x;
      const alerts = new Array(n).fill(null);
      for (const a of d.alerts || []) {
        const k = FRC.nearest(xs, Date.parse(a.time) / 1000);
        if (k >= 0) alerts[k] = FR.isNum(a.probability) ? a.probability * 100 : prob[k];
      }
      const th = (d.model && d.model.thresholds) || null;
      const maxP = Math.max(...prob.filter((v) => v !== null), 0);
      const topBand = th && FR.isNum(th.extreme) ? th.extreme * 100 * 1.3 : 0;
      out.push({ name: "probability", title: "<b>Flush probability</b>, next hour, with the risk-level bands and the alerts that fired",
        height: 210, series: [
          { label: "probability", stroke: "#f0e442", width: 1.8, fill: "rgba(240,228,66,0.06)", value: (u, v) => (v == null ? "–" : C.pct(v)) },
          { label: "alert fired", stroke: "#ff8a4c", fill: "#d55e00", paths: () => null,
            points: { show: true, size: 11, width: 2, space: 0 }, value: (u, v) => (v == null ? "–" : C.pct(v)) },
        ], data: [x, prob, alerts], axes: [FRC.axis("Probability, %", C.pct, { scale: "y" })],
        scales: { y: { range: () => [0, Math.max(maxP * 1.15, topBand, 0.1)] } },
        plugins: [FRC.levelBands(th)] });
    }
    const simple = [
      ["funding", "funding_rate", 100, "<b>Funding rate</b>, % per 8 h (positive: longs pay shorts)", "% per 8 h", C.pct3, "#56b4e9", (v) => C.pct3(v) + " / 8 h"],
      ["oi", "open_interest_usd", 1, "<b>Open interest</b>, USD notional", "USD", C.usd, "#cc79a7", (v) => FR.usd(v)],
      ["basis", "basis", 100, "<b>Basis</b>: perp price over the index, %", "% of index", C.pct3, "#009e73", (v) => C.pct3(v)],
      ["depth", "depth_bid_1pct_usd", 1, "<b>Bid depth</b> within 1 % of mid, USD", "USD", C.usd, "#e69f00", (v) => FR.usd(v)],
    ];
    for (const [name, column, f, title, label, format, colour, valueFmt] of simple) {
      const v = col(column, f);
      if (!v) continue;
      out.push({ name, title, height: 140, series: [{ label: name === "oi" ? "open interest" : name, stroke: colour, width: 1.5,
        value: (u, a) => (a == null ? "–" : valueFmt(a)) }], data: [x, v], axes: [FRC.axis(label, format, FRC.spreadTicks(format))] });
    }
    return out;
  }

  function drawCharts(d) {
    const list = defs(d);
    const key = windowName + "|" + list.map((c) => c.name + c.series.length).join(",");
    const host = $("charts");
    if (key === layoutKey && grp) {
      for (const c of list) charts[c.name].setData(c.data);
      return;
    }
    if (grp) grp.destroy();
    host.innerHTML = "";
    charts = {};
    grp = FRC.group("fr-" + SYMBOL);
    if (!list.length) {
      host.innerHTML = '<div class="panel muted">No history for this symbol in this window yet.</div>';
    }
    for (const c of list) {
      const box = document.createElement("div");
      box.className = "panel chart";
      box.dataset.chart = c.name;
      box.innerHTML = '<div class="title">' + c.title + "</div>";
      host.appendChild(box);
      const plot = document.createElement("div");
      box.appendChild(plot);
      charts[c.name] = FRC.make(plot, Object.assign({ group: grp }, c));
      box.dataset.axes = charts[c.name].axes.map((a) => a.label).join("|"); // drawn on the canvas
    }
    layoutKey = key;
  }

  /* ---- side panels ------------------------------------------------------------------- */
  // The radar computes drivers for rows at or above the alert level; for a row below it, the
  // drivers of that bar are asked of /scores/{symbol}?drivers=1 once (the same numbers as
  // /predict), and kept while the row is the same bar.
  let onDemand = { asOf: null, drivers: null, pending: false };

  function driversOnDemand(d) {
    // a failure (e.g. the newest bar not written yet) is asked again after a while
    const retry = onDemand.failed && Date.now() - onDemand.at > 10000;
    if (onDemand.asOf === d.as_of && !retry) return onDemand.drivers;
    onDemand = { asOf: d.as_of, drivers: null, pending: true, failed: onDemand.failed && onDemand.asOf === d.as_of };
    const asOf = d.as_of;
    const q = "?drivers=1&start=" + encodeURIComponent(asOf) + "&end=" + encodeURIComponent(asOf) +
      (d.bar ? "&bar=" + encodeURIComponent(d.bar) : "");
    FR.api("/scores/" + encodeURIComponent(SYMBOL) + q).then((body) => {
      if (onDemand.asOf !== asOf) return;
      const i = (body.time || []).findIndex((t) => Date.parse(t) === Date.parse(asOf));
      const got = i >= 0 && body.drivers ? body.drivers[i] : null;
      onDemand = { asOf: asOf, drivers: got, pending: false, failed: got === null, at: Date.now() };
      drawDrivers(Object.assign({}, d, { drivers: got || [], has_drivers: got !== null }));
    }).catch(() => {
      if (onDemand.asOf !== asOf) return;
      onDemand = { asOf: asOf, drivers: null, pending: false, failed: true, at: Date.now() };
      drawDrivers(d);
    });
    return null;
  }

  function drawDrivers(d) {
    if (d.has_drivers === false) {
      const got = driversOnDemand(d);
      if (got === null) {
        const why = "The radar computes drivers for scores at or above the alert level; this one is below it: ";
        $("drivers").innerHTML = '<li class="muted">' + why + (onDemand.failed
          ? "they could not be computed just now (the bar is not stored yet, or the service serves another model); asking again shortly."
          : "computing them for this bar…") + "</li>";
        return;
      }
      d = Object.assign({}, d, { drivers: got });
    }
    // sorted by the points shown (largest move of the probability first, whichever way)
    const list = (d.drivers || []).filter((x) => x && (x.text || x.feature))
      .sort((a, b) => Math.abs(b.contribution || 0) - Math.abs(a.contribution || 0));
    if (!list.length) { $("drivers").innerHTML = '<li class="muted">No driver stands out.</li>'; return; }
    const max = Math.max(...list.map((x) => Math.abs(x.contribution || 0)), 1e-12);
    $("drivers").innerHTML = list.slice(0, 8).map((x) => {
      const c = x.contribution || 0;
      const colour = c >= 0 ? "#e69f00" : "#56b4e9";
      const text = x.text || (x.feature + " = " + (FR.isNum(x.value) ? x.value.toPrecision(3) : "–"));
      return "<li><div>" + FR.esc(text) + '<div class="bar" style="width:' + (100 * Math.abs(c) / max).toFixed(0) +
        "%;background:" + colour + '"></div></div><div class="c" title="change in probability, percentage points">' +
        (c >= 0 ? "raises " : "lowers ") + "<br>" + FR.pp(Math.abs(c)).replace("+", "") + "</div></li>";
    }).join("");
  }

  function drawPostFlush(pf) {
    const panel = $("postflush-panel");
    if (!pf) { panel.classList.add("hidden"); return; }
    panel.classList.remove("hidden");
    const size = pf.size_usd != null ? pf.size_usd : pf.size;
    const when = pf.time || pf.flush_time;
    const hours = FR.isNum(pf.hours_since) ? pf.hours_since : when ? (Date.now() - Date.parse(when)) / 3.6e6 : null;
    let html = '<div style="margin-bottom:6px">' + (FR.isNum(size) ? "<b>" + FR.usd(size) + "</b> of long liquidations" : "A flush") +
      (when ? " at " + FR.esc(FR.utc(when)) : "") + (FR.isNum(hours) ? " (" + FR.age(hours * 3600) + " ago)" : "") + "</div>";
    const items = Array.isArray(pf.items) ? pf.items : null;
    if (items) {
      html += '<ul class="drivers">' + items.map((it) => "<li><div><b>" + FR.esc(it.name || it.key || "") + "</b>: " +
        FR.esc(it.text || it.suggests || "") + "</div><div></div></li>").join("") + "</ul>";
    } else {
      html += '<dl class="kv">' + Object.entries(pf).filter(([k]) => !["time", "size", "size_usd", "hours_since", "flush_time"].includes(k))
        .map(([k, v]) => "<dt>" + FR.esc(k.replace(/_/g, " ")) + "</dt><dd>" + FR.esc(typeof v === "object" ? (v && (v.text || JSON.stringify(v))) : v) + "</dd>").join("") + "</dl>";
    }
    $("postflush").innerHTML = html;
  }

  function pick(obj, ...keys) {
    for (const k of keys) {
      const parts = k.split(".");
      let v = obj;
      for (const p of parts) v = v == null ? undefined : v[p];
      if (v !== undefined && v !== null) return v;
    }
    return null;
  }

  function ciPair(ci) {
    if (Array.isArray(ci)) return ci;
    if (ci && typeof ci === "object") return [pick(ci, "lo", "low", "lower"), pick(ci, "hi", "high", "upper")];
    return null;
  }

  function ciRow(name, value, ci, colour, scaleMax, level) {
    ci = ciPair(ci);
    if (!FR.isNum(value)) {
      return '<div style="display:flex;justify-content:space-between;font-size:13px;margin-bottom:8px"><span>' + FR.esc(name) +
        '</span><span class="muted">not stored with this model</span></div>';
    }
    const ciName = FR.isNum(level) ? Math.round(level * 100) + " % CI " : "CI ";
    const pos = (v) => (100 * v / scaleMax).toFixed(1) + "%";
    let html = '<div style="display:flex;justify-content:space-between;font-size:13px"><span>' + FR.esc(name) + '</span><span class="num">' +
      (FR.isNum(value) ? value.toFixed(3) : "–") + (Array.isArray(ci) && FR.isNum(ci[0]) ? " <span class=muted>(" + ciName + ci[0].toFixed(3) + "–" + ci[1].toFixed(3) + ")</span>" : "") + "</span></div>";
    html += '<div class="ci">';
    if (Array.isArray(ci) && FR.isNum(ci[0]) && FR.isNum(ci[1])) html += '<div class="rng" style="left:' + pos(ci[0]) + ";width:" + pos(ci[1] - ci[0]) + ";background:" + colour + ';opacity:.55"></div>';
    if (FR.isNum(value)) html += '<div class="pt" style="left:' + pos(value) + ";background:" + colour + '"></div>';
    return html + "</div>";
  }

  function drawMeaning(d) {
    const m = d.model || {};
    const label = m.label || d.label;
    const base = m.base_rate;
    const th = m.thresholds || {};
    const alertAt = FR.isNum(m.alert_threshold) ? m.alert_threshold : th.high;
    let html = '<dl class="kv">';
    html += "<dt>About</dt><dd>" + FR.esc(label || "not stated by the model") + "</dd>";
    if (FR.isNum(base)) html += "<dt>Base rate</dt><dd>" + FR.pct(base) + " of bars were followed by it in the training data</dd>";
    const rule = (m.alert_rule && m.alert_rule.text) || "";  // the server's words (serving.alert_rule.rule_text)
    if (FR.isNum(alertAt)) html += "<dt>Alert at</dt><dd>" + FR.pct(alertAt) + (FR.isNum(base) && base > 0 ? " (" + (alertAt / base).toFixed(1) + "× the base rate)" : "") +
      (rule ? '<div class="muted" id="alert-rule">' + FR.esc(rule) + "</div>" : "") + "</dd>";
    const lv = ["elevated", "high", "extreme"].filter((k) => FR.isNum(th[k])).map((k) => FR.badge(k) + " ≥ " + FR.pct(th[k])).join("<br>");
    if (lv) html += "<dt>Levels</dt><dd>" + lv + "</dd>";
    if (m.name || m.version) html += "<dt>Model</dt><dd>" + FR.esc(m.name || "") + (m.version ? " v" + FR.esc(m.version) : "") + "</dd>";
    html += "</dl>";
    const tr = m.track_record;
    if (!tr) {
      html += '<p class="muted">No track record is stored with this model: it cannot show how often it was right. Retrain it with the current <code>flushrisk train</code> to get one.</p>';
      $("meaning").innerHTML = html;
      return;
    }
    const pr = pick(tr, "pr_auc", "model.pr_auc", "metrics.pr_auc");
    const prCi = pick(tr, "pr_auc_ci", "model.pr_auc_ci", "metrics.pr_auc_ci");
    let bl = pick(tr, "baseline", "best_baseline") || {};
    const others = pick(tr, "baseline_metrics", "baselines");
    if (!bl.pr_auc && others && typeof others === "object") { // {name: {pr_auc, ...}}: take the best
      for (const [name, m] of Object.entries(others)) {
        if (m && FR.isNum(m.pr_auc) && !(bl.pr_auc >= m.pr_auc)) bl = Object.assign({ name }, m);
      }
    }
    const blPr = pick(bl, "pr_auc"), blCi = pick(bl, "pr_auc_ci", "ci");
    const trBase = pick(tr, "base_rate") || base;
    const level = pick(tr, "ci_level", "level", "verdict.level");
    const scaleMax = Math.min(1, Math.max(0.05, ...[pr, blPr, ...(ciPair(prCi) || []), ...(ciPair(blCi) || [])].filter(FR.isNum)) * 1.15);
    html += '<h2 style="margin-top:12px">Track record (out of sample)</h2>';
    html += '<div class="legend-note">PR-AUC: how well high probabilities pick out the flushes (1 = perfect; a random guess scores the base rate' +
      (FR.isNum(trBase) ? ", " + trBase.toFixed(3) : "") + ").</div>";
    html += ciRow("FlushRisk model", pr, prCi, "#f0e442", scaleMax, level);
    html += ciRow("best baseline" + (bl.name ? ": " + bl.name : ""), blPr, blCi, "#8b98a5", scaleMax, level);
    html += FR.verdictHtml(tr);
    const ev = pick(tr, "event_study", "events") || {};
    const hits = pick(ev, "hits", "alerted"), events = pick(ev, "events", "covered_events", "count");
    const fa = pick(ev, "false_alarms_per_week", "false_alarms_per_week_elsewhere");
    const lead = pick(ev, "median_lead_time_hours", "lead_time_hours");
    if (hits !== null || fa !== null) {
      html += '<dl class="kv" style="margin-top:6px">';
      const onsets = pick(ev, "onsets"), onsetHits = pick(ev, "onset_hits");
      const conts = pick(ev, "continuations"), contHits = pick(ev, "continuation_hits");
      const eq = pick(tr, "verdict.onsets") || {};
      if (FR.isNum(onsets) && FR.isNum(onsetHits)) {
        html += '<dt>Onsets</dt><dd id="onsets"><b>' + onsetHits + " of " + onsets + "</b> new flushes (no flush in the hours before) reached the alert level beforehand" +
          (FR.isNum(eq.model_hits) && FR.isNum(eq.baseline_hits) && eq.best_baseline
            ? '<div class="muted" id="onsets-vs-baseline">at equal alert budget (the baseline alerting as often as the model): best baseline (' + FR.esc(eq.best_baseline) + ") " +
              eq.baseline_hits + "/" + eq.onsets + " against the model's " + eq.model_hits + "/" + eq.onsets +
              (Array.isArray(eq.ci) && FR.isNum(eq.ci[0]) && FR.isNum(eq.difference) ? " (" + (eq.difference * 100).toFixed(1) + " pts, " + Math.round((eq.level || 0.9) * 100) + " % CI " +
                (eq.ci[0] * 100).toFixed(1) + " to " + (eq.ci[1] * 100).toFixed(1) + ")" : "") +
              ({ more: ": the model warned before more onsets", fewer: ": the model warned before FEWER onsets", not_clear: ": not clearly different" }[eq.status] || "") + "</div>"
            : '<div class="muted" id="onsets-vs-baseline">no equal-alert-budget comparison with a baseline is stored with this model</div>') + "</dd>";
      }
      if (FR.isNum(conts) && FR.isNum(contHits)) {
        html += '<dt>Continuations</dt><dd id="continuations"><b>' + contHits + " of " + conts + "</b> flushes that continued an earlier one (already visible on a liquidation feed)</dd>";
      }
      if (!(FR.isNum(onsets) && FR.isNum(onsetHits)) && FR.isNum(hits) && FR.isNum(events)) {
        html += '<dt>Past flushes</dt><dd><b>' + hits + " of " + events + "</b> reached the alert level beforehand <span class=muted>(onsets and continuations together: this model's record does not separate them)</span></dd>";
      }
      if (FR.isNum(fa)) html += "<dt>False alarms</dt><dd><b>" + fa.toFixed(1) + "</b> per week</dd>";
      if (FR.isNum(lead)) html += "<dt>Lead time</dt><dd>median " + lead.toFixed(1) + " h before the flush</dd>";
      html += "</dl>";
    }
    const rel = pick(tr, "reliability", "calibration");
    html += '<div id="reliability" class="chart" style="margin-top:8px"></div>';
    $("meaning").innerHTML = html;
    drawReliability(rel);
  }

  function drawReliability(rel) {
    if (reliability) { reliability.destroy(); reliability = null; }
    if (!rel) return;
    let p = pick(rel, "predicted", "mean_p", "mean_predicted", "p"), o = pick(rel, "observed", "freq", "frequency", "fraction_positive");
    if (Array.isArray(rel)) { p = rel.map((r) => r.predicted); o = rel.map((r) => r.observed); }
    if (!Array.isArray(p) || !Array.isArray(o) || !p.length) return;
    const idx = p.map((_, i) => i).filter((i) => FR.isNum(p[i]) && FR.isNum(o[i])).sort((a, b) => p[a] - p[b]);
    const xs = idx.map((i) => p[i] * 100), ys = idx.map((i) => o[i] * 100);
    const band = (name) => {
      const v = pick(rel, name);
      return Array.isArray(v) ? idx.map((i) => (FR.isNum(v[i]) ? v[i] * 100 : null)) : null;
    };
    const lo = band("freq_lo"), hi = band("freq_hi");
    const top = Math.max(...xs, ...ys, ...(hi || []).filter(FR.isNum)) * 1.1;
    const el = $("reliability");
    el.innerHTML = '<div class="title"><b>Reliability</b>: when the model said x %, how often it happened</div>';
    const plot = document.createElement("div");
    el.appendChild(plot);
    reliability = FRC.make(plot, {
      timeX: false, height: 220, legend: false, xLabel: "predicted", xValue: (u, v) => (v == null ? "–" : C.pct(v)),
      xAxis: FRC.axis("Predicted probability, %", C.pct, { size: 40 }),
      series: [
        { label: "perfect", stroke: "#5b6672", dash: [4, 4], width: 1, points: { show: false }, value: (u, v) => (v == null ? "–" : C.pct(v)) },
        { label: "observed", stroke: "#f0e442", width: 2, points: { show: true, size: 6, fill: "#f0e442" }, value: (u, v) => (v == null ? "–" : C.pct(v)) },
      ].concat(lo && hi ? [
        { label: "band low", stroke: "rgba(240,228,66,0.45)", width: 1, dash: [2, 3], points: { show: false }, value: (u, v) => (v == null ? "–" : C.pct(v)) },
        { label: "band high", stroke: "rgba(240,228,66,0.45)", width: 1, dash: [2, 3], points: { show: false }, value: (u, v) => (v == null ? "–" : C.pct(v)) },
      ] : []),
      bands: lo && hi ? [{ series: [4, 3], fill: "rgba(240,228,66,0.10)" }] : undefined,
      data: lo && hi ? [xs, xs, ys, lo, hi] : [xs, xs, ys], axes: [FRC.axis("Observed frequency, %", C.pct, { size: 50 })],
      scales: { x: { time: false, range: () => [0, top] }, y: { range: () => [0, top] } },
      cursor: { drag: { x: false, y: false } },
    });
  }

  function drawHeader(d) {
    $("probability").textContent = FR.pct(d.probability);
    $("probability").className = "big lvl-" + (d.risk_level || "unknown");
    $("badge").innerHTML = FR.badge(d.risk_level, d.stale) + FR.underway(d);
    FR.markMode(d.mode, d.replay_ended);
    const c = d.change_1h;
    $("change").innerHTML = FR.isNum(c) ? '<span class="' + (c > 0 ? "up" : c < 0 ? "down" : "flat") + '">' + FR.pp(c) + "</span> <span class=muted>in 1 h</span>" : "";
    const barS = { "1m": 60, "5m": 300, "15m": 900, "30m": 1800, "1h": 3600 }[d.bar] || 0;
    const closed = d.as_of && barS ? new Date(Date.parse(d.as_of) + barS * 1000).toISOString() : null;
    $("asof").textContent = "scored bar: " + (d.bar || "") + " bar opening " + FR.utc(d.as_of) +
      (closed ? " (closed " + FR.utc(closed).slice(11) + ")" : "") +
      (d.from && d.until ? " · covers " + FR.utc(d.from) + " to " + FR.utc(d.until) : "") +
      (FR.isNum(d.price) ? " · price $" + C.price(d.price) : "") +
      " · data age " + FR.age(d.data_age_seconds);
    $("asof").dataset.from = d.from || "";
    $("asof").dataset.until = d.until || "";
    $("label-line").textContent = d.label ? "Probability of " + d.label + "." : "";
    const warnings = [];
    if (d.stale) warnings.push("The data behind this score is " + FR.age(d.data_age_seconds) + " old: this is not a current reading.");
    for (const w of d.warnings || []) warnings.push(typeof w === "string" ? w : w.message || w.code);
    // a long warning (e.g. 14 features out of range, each with its numbers) folds after its gist
    $("warnings").innerHTML = warnings.map((w) => {
      const text = String(w);
      const cut = text.indexOf(":");
      if (text.length < 180 || cut < 0 || cut > 160) return '<div class="banner warn">⚠ ' + FR.esc(text) + "</div>";
      return '<details class="banner warn"><summary>⚠ ' + FR.esc(text.slice(0, cut)) + ' <span class="muted">(details)</span></summary>' +
        FR.esc(text.slice(cut + 1).trim()) + "</details>";
    }).join("");
  }

  async function load() {
    const d = await FR.api("/risk/" + encodeURIComponent(SYMBOL) + "?window=" + windowName);
    $("error").className = "hidden";
    drawHeader(d);
    drawCharts(d);
    drawDrivers(d);
    drawPostFlush(d.post_flush);
    drawMeaning(d);
    document.body.dataset.asOf = d.as_of || "";
    document.body.dataset.updates = String(++updates);
    FR.status($("status"), true, FR.feedWord() + " · updated " + new Date().toISOString().slice(11, 19) + " UTC");
  }

  async function poll() {
    try {
      await load();
    } catch (err) {
      FR.status($("status"), false, "not updating");
      FR.showError($("error"), err);
      if (err instanceof FR.AuthError) return;
      if (err.status === 404) return; // not watched: nothing will appear by polling harder
    }
    setTimeout(poll, (document.hidden ? 4 : 1) * REFRESH_S * 1000);
  }

  function setWindow(w) {
    windowName = w;
    for (const b of document.querySelectorAll("#windows button")) b.classList.toggle("on", b.dataset.window === w);
    const q = new URLSearchParams(location.search);
    if (w === "24h") q.delete("window"); else q.set("window", w);
    const s = q.toString();
    history.replaceState(null, "", location.pathname + (s ? "?" + s : ""));
  }

  for (const b of document.querySelectorAll("#windows button")) {
    b.addEventListener("click", () => { setWindow(b.dataset.window); load().catch((err) => FR.showError($("error"), err)); });
  }
  $("key-button").addEventListener("click", () => { FR.forgetKey(); FR.askForKey(); });
  FRC.autoSize($("charts"), () => Object.values(charts));
  setWindow(windowName);
  poll();
})();
