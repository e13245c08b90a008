/* The radar (/): one row per watched symbol from GET /risk, re-read every few seconds (no reload).
   Rows are built as one HTML string and afterwards patched only where a score changed, and the
   sparklines are inline SVG paths, so hundreds of symbols stay cheap. */
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const REFRESH_S = Math.max(1, Number(FR.param("refresh", 5)) || 5);
  const rows = new Map(); // symbol -> {data, tr, key}
  const state = {
    sort: FR.param("sort", "probability"),
    dir: FR.param("dir", "desc"),
    filter: FR.param("q", ""),
    level: FR.param("level", "low"),
    staleOnly: FR.param("stale", "") === "1",
  };
  let updates = 0;
  let lastOrder = "";
  let fetchedAt = 0;

  function peak(d) {
    const p = d.sparkline && d.sparkline.probability;
    let m = -1;
    if (p) for (const v of p) if (FR.isNum(v) && v > m) m = v;
    return m;
  }

  function sortValue(d, key) {
    switch (key) {
      case "symbol": return d.symbol;
      case "level": return FR.levelIndex(d.risk_level) * 10 + (d.probability || 0);
      case "probability": return FR.isNum(d.probability) ? d.probability : -1;
      case "change_1h": return FR.isNum(d.change_1h) ? d.change_1h : -Infinity;
      case "peak": return peak(d);
      case "age": return FR.isNum(d.data_age_seconds) ? d.data_age_seconds : Infinity;
      case "driver": return (d.top_driver || "").toLowerCase();
      default: return 0;
    }
  }

  function changeCell(c) {
    const cls = !FR.isNum(c) || Math.abs(c) < 5e-5 ? "flat" : c > 0 ? "up" : "down";
    const arrow = cls === "up" ? "▲ " : cls === "down" ? "▼ " : "";
    return '<td class="num ' + cls + '">' + arrow + FR.pp(c) + "</td>";
  }

  function rowHtml(d) {
    const sym = FR.esc(d.symbol);
    const href = "/symbol/" + encodeURIComponent(d.symbol);
    const warnings = (d.warnings || []).length;
    const chip = warnings ? '<span class="warnchip" title="' + FR.esc((d.warnings || []).map(w => w.message || w.code || w).join("\n")) +
      '">' + warnings + " warning" + (warnings > 1 ? "s" : "") + "</span>" : "";
    const spark = d.sparkline ? FR.sparkline(d.sparkline.probability, d.risk_level, 120, 28) : "";
    return '<td class="sym"><a href="' + href + '">' + sym + "</a><small>" + FR.esc(d.bar || "") + "</small></td>" +
      "<td>" + FR.badge(d.risk_level, d.stale) + FR.underway(d) + "</td>" +
      '<td class="num prob ' + (d.stale ? "stale-p" : "lvl-" + FR.esc(d.risk_level)) + '"' +
      (d.stale ? ' title="stale: the probability as it was, not now"' : "") + ">" + FR.pct(d.probability) + "</td>" +
      changeCell(d.change_1h) +
      '<td class="spark">' + spark + "</td>" +
      '<td class="num age' + (d.stale ? " stale" : "") + '" title="newest data: ' + FR.esc(FR.utc(d.as_of)) + '">' +
      FR.age(d.data_age_seconds) + "</td>" +
      '<td class="driver">' + driverCell(d, href) + chip + "</td>";
  }

  // Drivers are computed by the radar for rows at or above the alert level; a row below it
  // has none yet (not "no reason"): its page computes them on demand.
  function driverCell(d, href) {
    if (d.top_driver) return FR.esc(d.top_driver);
    if (d.has_drivers === false) {
      return '<a class="muted" href="' + href + '" title="The radar computes drivers for rows at or above ' +
        'the alert level; the symbol page computes this one on demand">below the alert level: drivers on its page</a>';
    }
    return "–";
  }

  function rowKey(d) {
    return [d.as_of, d.probability, d.risk_level, d.stale, d.top_driver, d.has_drivers, d.change_1h, (d.warnings || []).length, d.squeeze_running].join("|");
  }

  function visible(d) {
    if (FR.levelIndex(d.risk_level) < FR.levelIndex(state.level)) return false;
    if (state.staleOnly && !d.stale) return false;
    if (state.filter) {
      const q = state.filter.toLowerCase();
      if (!d.symbol.toLowerCase().includes(q) && !(d.top_driver || "").toLowerCase().includes(q)) return false;
    }
    return true;
  }

  /** Symbol data in the current sort order. */
  function sorted(items) {
    const key = state.sort, sign = state.dir === "asc" ? 1 : -1;
    return items.slice().sort((a, b) => {
      const x = sortValue(a, key), y = sortValue(b, key);
      if (x < y) return -sign;
      if (x > y) return sign;
      return a.symbol < b.symbol ? -1 : 1;
    });
  }

  function arrange() {
    const list = sorted(Array.from(rows.values(), (r) => r.data)).map((d) => rows.get(d.symbol));
    let shown = 0, high = 0, stale = 0;
    const order = [];
    for (const r of list) {
      const v = visible(r.data);
      r.tr.classList.toggle("hidden", !v);
      if (v) shown++;
      if (FR.levelIndex(r.data.risk_level) >= 2) high++;
      if (r.data.stale) stale++;
      order.push(r.data.symbol);
    }
    const joined = order.join(",");
    if (joined !== lastOrder) {
      const body = $("rows");
      const frag = document.createDocumentFragment();
      for (const r of list) frag.appendChild(r.tr);
      body.appendChild(frag);
      lastOrder = joined;
    }
    $("counts").innerHTML = "<b>" + shown + "</b> of <b>" + rows.size + "</b> symbols shown · <b>" + high +
      "</b> high or extreme · <b>" + stale + "</b> stale";
    for (const th of document.querySelectorAll("table.radar th")) {
      th.setAttribute("aria-sort", th.dataset.key === state.sort ? (state.dir === "asc" ? "ascending" : "descending") : "none");
    }
  }

  function trHtml(d) {
    const hidden = visible(d) ? "" : ' class="hidden"';
    return '<tr data-symbol="' + FR.esc(d.symbol) + '" data-as-of="' + FR.esc(d.as_of || "") + '"' + hidden + ">" + rowHtml(d) + "</tr>";
  }

  function render(payload) {
    const first = rows.size === 0;
    const list = payload.symbols || [];
    const body = $("rows");
    const flashed = [];
    let changed = 0, unknown = false;
    for (const d of list) {
      const r = rows.get(d.symbol);
      if (!r) unknown = true;
      else if (r.key !== rowKey(d)) changed++;
    }
    if (first || unknown || changed > list.length / 4 || list.length !== rows.size) {
      // many rows changed (a bar closed for every symbol): one parse of the whole table, already
      // in display order, is far cheaper than hundreds of row-by-row replacements and moves;
      // and no flash, which would repaint every row for a second
      const order = sorted(list);
      body.innerHTML = order.map(trHtml).join("");
      rows.clear();
      let i = 0;
      for (const tr of body.children) {
        const d = order[i++];
        rows.set(d.symbol, { data: d, tr, key: rowKey(d) });
      }
      lastOrder = order.map((d) => d.symbol).join(",");
    } else {
      for (const d of list) {
        const key = rowKey(d);
        const r = rows.get(d.symbol);
        if (r.key !== key) {
          r.tr.innerHTML = rowHtml(d);
          r.tr.dataset.asOf = d.as_of || "";
          r.tr.classList.remove("changed");
          flashed.push(r.tr);
          r.key = key;
        } else if (r.data.data_age_seconds !== d.data_age_seconds || r.data.stale !== d.stale) {
          const age = r.tr.querySelector("td.age"); // the data keeps ageing between bars
          age.textContent = FR.age(d.data_age_seconds);
          age.classList.toggle("stale", !!d.stale);
        }
        r.data = d;
      }
    }
    arrange();
    if (flashed.length) {
      void body.offsetWidth; // one layout, so the flash animation restarts on every changed row
      for (const tr of flashed) tr.classList.add("changed");
    }
    const label = (payload.symbols && payload.symbols[0] && payload.symbols[0].label) || null;
    if (label) $("explain").textContent = "Probability of " + label + ", per symbol, from the watched market data. Click a row for the charts and the reasons.";
    FR.markMode(payload.mode, payload.replay_ended);
    document.body.dataset.asOf = payload.as_of || "";
    document.body.dataset.rows = String(rows.size);
    document.body.dataset.updates = String(++updates);
    $("footnote").textContent = rows.size ? "Scores as of " + FR.utc(payload.as_of) + ". Re-read every " + REFRESH_S +
      " s. Level thresholds are multiples of the base-rate odds fixed at training; “stale” means the data is older than two bars." : "No symbol is being watched yet: start `flushrisk watch` (or replay) next to this service.";
    if (first) {
      requestAnimationFrame(() => requestAnimationFrame(() => {
        performance.mark("radar-rendered");
        document.body.dataset.rendered = "1";
      }));
    }
  }

  function saveState() {
    const q = new URLSearchParams(location.search);
    const set = (k, v, dflt) => (v === dflt ? q.delete(k) : q.set(k, v));
    set("sort", state.sort, "probability"); set("dir", state.dir, "desc"); set("q", state.filter, "");
    set("level", state.level, "low"); set("stale", state.staleOnly ? "1" : "", "");
    const s = q.toString();
    history.replaceState(null, "", location.pathname + (s ? "?" + s : ""));
  }

  /** Read /risk once and apply it; false when the page must stop polling (no key yet). */
  async function refresh() {
    try {
      const payload = await FR.api("/risk");
      fetchedAt = Date.now();
      $("error").className = "hidden";
      render(payload);
      FR.status($("status"), true, FR.feedWord() + " · updated " + new Date(fetchedAt).toISOString().slice(11, 19) + " UTC");
    } catch (err) {
      FR.status($("status"), false, "not updating");
      FR.showError($("error"), err);
      if (err instanceof FR.AuthError) return false; // the key form reloads the page
    }
    return true;
  }

  async function poll() {
    if (await refresh()) setTimeout(poll, (document.hidden ? 4 : 1) * REFRESH_S * 1000);
  }
  window.FRRadar = { refresh }; // benchmarks/bench_web.py times one refresh

  function init() {
    $("filter").value = state.filter;
    $("level").value = state.level;
    $("stale-only").checked = state.staleOnly;
    $("filter").addEventListener("input", (e) => { state.filter = e.target.value.trim(); arrange(); saveState(); });
    $("level").addEventListener("change", (e) => { state.level = e.target.value; arrange(); saveState(); });
    $("stale-only").addEventListener("change", (e) => { state.staleOnly = e.target.checked; arrange(); saveState(); });
    for (const th of document.querySelectorAll("table.radar th")) {
      th.addEventListener("click", () => {
        const key = th.dataset.key;
        if (state.sort === key) state.dir = state.dir === "asc" ? "desc" : "asc";
        else { state.sort = key; state.dir = key === "symbol" || key === "driver" || key === "age" ? "asc" : "desc"; }
        arrange(); saveState();
      });
    }
    $("rows").addEventListener("click", (e) => {
      if (e.target.closest("a")) return;
      const tr = e.target.closest("tr");
      if (tr) location.href = "/symbol/" + encodeURIComponent(tr.dataset.symbol);
    });
    $("key-button").addEventListener("click", () => { FR.forgetKey(); FR.askForKey(); });
    poll();
  }

  init();
})();
