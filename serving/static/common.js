/* FlushRisk pages: shared helpers. Every figure comes from the JSON API (/risk, /risk/{symbol},
   /scores/{symbol}); these helpers only fetch, format and draw. */
(function () {
  "use strict";
  const LEVELS = ["low", "elevated", "high", "extreme"];
  const LEVEL_COLOURS = { low: "#56b4e9", elevated: "#f0e442", high: "#e69f00", extreme: "#d55e00" };

  class AuthError extends Error {}

  /* ---- API ---------------------------------------------------------------------------- */
  let keyDialogOpen = null;

  async function api(path) {
    const res = await fetch(path, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (res.status === 401) {
      askForKey();
      throw new AuthError("this service needs an API key");
    }
    let body = null;
    try { body = await res.json(); } catch (e) { body = null; }
    if (!res.ok) {
      const why = body && body.error ? body.error : res.status + " " + res.statusText;
      const err = new Error(why);
      err.status = res.status;
      throw err;
    }
    return body;
  }

  /** POST the key to /login: the server answers with an HttpOnly session cookie (this
      script never stores the key). Resolves to true when the key was accepted. */
  async function login(value) {
    const res = await fetch("/login", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ key: value }),
    });
    return res.ok;
  }

  function forgetKey() {
    return fetch("/logout", { method: "POST", credentials: "same-origin" }).catch(() => null);
  }

  /** The API said 401: show a small form that logs in with the key (POST /login). */
  function askForKey(retry) {
    if (keyDialogOpen) return keyDialogOpen;
    const dlg = document.createElement("dialog");
    dlg.className = "keyform";
    dlg.innerHTML =
      '<form method="dialog"><b>API key needed</b>' +
      '<div class="muted" style="margin-top:6px">This FlushRisk service was started with ' +
      "<code>FLUSHRISK_API_KEY</code>. Enter the key; the service keeps you logged in for " +
      "12 hours with a cookie scripts cannot read.</div>" +
      (retry ? '<div class="keyerror">That key was refused; try again.</div>' : "") +
      '<input type="password" name="key" autocomplete="current-password" placeholder="API key" required>' +
      '<div style="display:flex;gap:8px;justify-content:flex-end"><button value="ok" class="on">Use key</button></div></form>';
    document.body.appendChild(dlg);
    keyDialogOpen = new Promise((resolve) => {
      dlg.addEventListener("close", async () => {
        const value = dlg.querySelector("input").value.trim();
        dlg.remove();
        keyDialogOpen = null;
        const accepted = value ? await login(value).catch(() => false) : false;
        resolve(accepted);
        if (accepted) location.reload();
        else if (value) askForKey(true);
      });
    });
    dlg.showModal();
    return keyDialogOpen;
  }

  /* ---- formatting --------------------------------------------------------------------- */
  function isNum(x) { return typeof x === "number" && isFinite(x); }

  function pct(p, digits) {
    if (!isNum(p)) return "–";
    const v = p * 100;
    const d = digits !== undefined ? digits : (Math.abs(v) < 1 ? 2 : 1);
    return v.toFixed(d) + " %";
  }

  function pp(delta) {
    if (!isNum(delta)) return "–";
    const v = delta * 100;
    const s = (v > 0 ? "+" : v < 0 ? "−" : "±") + Math.abs(v).toFixed(Math.abs(v) < 1 ? 2 : 1);
    return s + " pp";
  }

  function age(seconds) {
    if (!isNum(seconds)) return "–";
    const s = Math.max(0, seconds);
    if (s < 90) return Math.round(s) + " s";
    if (s < 5400) return Math.round(s / 60) + " min";
    if (s < 172800) return (s / 3600).toFixed(1) + " h";
    return (s / 86400).toFixed(1) + " d";
  }

  function usd(x) {
    if (!isNum(x)) return "–";
    const a = Math.abs(x);
    const sign = x < 0 ? "−" : "";
    if (a >= 1e9) return sign + "$" + (a / 1e9).toFixed(2) + "B";
    if (a >= 1e6) return sign + "$" + (a / 1e6).toFixed(2) + "M";
    if (a >= 1e3) return sign + "$" + (a / 1e3).toFixed(1) + "k";
    if (a >= 1) return sign + "$" + a.toFixed(2);
    return sign + "$" + a.toPrecision(3);
  }

  function utc(iso) {
    if (!iso) return "–";
    const d = new Date(iso);
    if (isNaN(d)) return String(iso);
    return d.toISOString().slice(0, 16).replace("T", " ") + " UTC";
  }

  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, (c) => (
      { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  }

  function levelIndex(level) { return LEVELS.indexOf(level); }

  /** The risk badge; a stale row's badge is grey and says "stale" (the level was then, not now). */
  function badge(level, stale) {
    const i = levelIndex(level);
    const cls = i < 0 ? "unknown" : level;
    let meter = "";
    for (let k = 0; k < 4; k++) meter += "<i" + (k <= i ? ' class="f"' : "") + "></i>";
    if (stale) {
      return '<span class="badge stale" title="stale data: the level was ' + esc(level || "unknown") +
        ' when the data was last current, not now"><span class="meter" aria-hidden="true">' + meter + "</span>stale</span>";
    }
    return '<span class="badge lvl-' + cls + '" title="risk level: ' + esc(level || "unknown") +
      '"><span class="meter" aria-hidden="true">' + meter + "</span>" + esc(level || "unknown") + "</span>";
  }

  /** "squeeze under way": a squeeze of the model's label ended within its calm window, so the
   *  alert rule gives no new alert (it warns before a squeeze starts, in calm hours). */
  function underway(d) {
    if (!d || d.squeeze_running !== true) return "";
    return '<span class="underway" title="A squeeze of this model&#39;s label ended within its calm window (6 h): ' +
      'it is under way, so no new alert is given (alerts warn before a squeeze starts, in calm hours)">squeeze under way</span>';
  }

  const MODE_TEXT = {
    replay: ["REPLAY", "replayed history, not live data"],
    simulated: ["SIMULATED", "simulated market data, not a real market"],
  };

  /** The word for the status line: "live" only for live data that is still updating. */
  function feedWord() {
    const mode = document.body.dataset.mode || "live";
    if (document.body.dataset.replayEnded) return mode + " · replay ended";
    return mode;
  }

  /** Mark the page when its scores come from replayed or simulated data, and say when the
      replay ended (its clock stopped there); a live page carries no mark. */
  function markMode(mode, ended) {
    const header = document.querySelector("header.top");
    let mark = document.getElementById("mode-mark");
    let banner = document.getElementById("mode-banner");
    const known = MODE_TEXT[mode];
    if (!known) {
      if (mark) mark.remove();
      if (banner) banner.remove();
      document.body.dataset.mode = mode || "live";
      return;
    }
    if (!mark && header) {
      mark = document.createElement("span");
      mark.id = "mode-mark";
      header.insertBefore(mark, header.querySelector("nav"));
    }
    if (mark) {
      mark.className = "mode-mark mode-" + mode;
      mark.textContent = known[0];
      mark.title = "These scores come from " + known[1] + ".";
    }
    if (!banner) {
      banner = document.createElement("div");
      banner.id = "mode-banner";
      const main = document.querySelector("main");
      if (main) main.insertBefore(banner, main.firstChild);
    }
    banner.className = "banner mode-banner mode-" + mode;
    banner.textContent = known[0] + ": these scores come from " + known[1] + "." + (ended
      ? " The replay " + (ended.reason === "stopped" ? "was stopped" : "ended") + " at " + utc(ended.at) +
        ": its clock stopped there and nothing is updating."
      : "");
    document.body.dataset.mode = mode;
    document.body.dataset.replayEnded = ended ? "1" : "";
  }

  /* ---- sparkline: one inline SVG polyline per row (cheap for hundreds of rows) -------- */
  function sparkline(values, level, width, height) {
    const w = width || 120, h = height || 28;
    const pts = [];
    const n = values ? values.length : 0;
    let max = 0;
    for (let i = 0; i < n; i++) if (isNum(values[i]) && values[i] > max) max = values[i];
    if (!n || max <= 0) return '<svg width="' + w + '" height="' + h + '" class="spark" role="img" aria-label="no history"></svg>';
    // at most ~2 points per pixel: a day of 1-minute bars becomes 240 points, not 1440
    const step = Math.max(1, Math.floor(n / (w * 2)));
    const top = max * 1.1;
    let d = "";
    let pen = false;
    for (let i = 0; i < n; i += step) {
      const v = values[i];
      if (!isNum(v)) { pen = false; continue; }
      const x = (n === 1 ? w : (i / (n - 1)) * (w - 2) + 1).toFixed(1);
      const y = (h - 2 - (v / top) * (h - 4)).toFixed(1);
      d += (pen ? "L" : "M") + x + " " + y;
      pen = true;
      pts.push(v);
    }
    const colour = LEVEL_COLOURS[level] || "#8b98a5";
    return '<svg width="' + w + '" height="' + h + '" class="spark" role="img" aria-label="24 h probability, max ' +
      pct(max) + '"><path d="' + d + '" fill="none" stroke="' + colour + '" stroke-width="1.4" stroke-linejoin="round"/></svg>';
  }

  /* ---- time helpers for uPlot (x axis in Unix seconds, shown in UTC) ------------------ */
  function toSeconds(times) {
    const out = new Array(times.length);
    for (let i = 0; i < times.length; i++) out[i] = Date.parse(times[i]) / 1000;
    return out;
  }

  function nums(arr, n) {
    if (!Array.isArray(arr)) return null;
    const out = new Array(n);
    let any = false;
    for (let i = 0; i < n; i++) {
      const v = arr[i];
      out[i] = isNum(v) ? v : null;
      if (out[i] !== null) any = true;
    }
    return any ? out : null;
  }

  function utcDate(ts) { return uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"); }

  function status(el, ok, text) {
    if (!el) return;
    el.innerHTML = '<span class="dot ' + (ok ? "live" : "down") + '"></span>' + esc(text);
  }

  function showError(el, err) {
    if (!el) return;
    if (err instanceof AuthError) { el.className = "banner warn"; el.textContent = "Waiting for the API key…"; return; }
    el.className = "banner error";
    el.textContent = err && err.message ? err.message : String(err);
  }

  function param(name, fallback) {
    const v = new URLSearchParams(location.search).get(name);
    return v === null ? fallback : v;
  }

  /** The {symbol} of /symbol/{symbol} or /backtest/{symbol}. */
  /**
   * The model's verdict (from its track record), one line each: PR-AUC against the best
   * baseline, then onsets warned at equal alert budget against the best baseline, each with
   * its CI. ``verdict.lines`` when the model has them, else the text split at its newlines.
   */
  function verdictHtml(trackRecord) {
    const v = trackRecord && trackRecord.verdict;
    const text = typeof v === "string" ? v : v && typeof v.text === "string" ? v.text : "";
    const lines = v && Array.isArray(v.lines) && v.lines.length ? v.lines : text.split("\n");
    const shown = lines.filter((l) => typeof l === "string" && l.trim());
    if (!shown.length) return "";
    return '<div class="verdict" id="verdict"><b>Verdict</b> of the model\'s walk-forward evaluation (out of sample, against the best baseline):' +
      shown.map((l, i) => '<div class="verdict-line" data-line="' + i + '">' + esc(l) + "</div>").join("") + "</div>";
  }

  function pathSymbol() {
    const parts = location.pathname.split("/").filter(Boolean);
    return decodeURIComponent(parts[parts.length - 1] || "");
  }

  window.FR = {
    LEVELS, LEVEL_COLOURS, AuthError, api, askForKey, forgetKey, login, isNum, pct, pp, age, usd, utc,
    esc, badge, underway, markMode, verdictHtml, feedWord, levelIndex, sparkline, toSeconds, nums, utcDate, status, showError, param, pathSymbol,
  };
})();
