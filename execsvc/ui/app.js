/* execsvc map page.
 *
 * Fetches the server-rendered SVG charts (/map/{symbol}.svg and /map/{symbol}/heatmap.svg),
 * inlines them, turns their <title> elements into tooltips, lists the largest clusters from
 * the chart's data attributes (a venue selector picks the venues' sum or one venue's map, and
 * bars stack by leverage or by venue), states the map's rolling online score against the realised
 * liquidations (GET /model), follows /stream/maps (EventSource) to redraw on every update
 * of the shown map without a reload, and ticks the map's age, with a STALE banner past
 * max_map_age_s. No library, nothing loaded from other hosts.
 */
"use strict";

(function () {
  window.__loadId = window.__loadId || Math.random().toString(36).slice(2);

  const $ = (id) => document.getElementById(id);
  const els = {
    symbol: $("symbol"), window: $("window"), range: $("range"), leverages: $("leverages"),
    exchange: $("exchange"), stack: $("stack"),
    map: $("map"), heatmap: $("heatmap"), clusters: document.querySelector("#clusters tbody"),
    live: $("live"), age: $("age"), stale: $("stale"), tooltip: $("tooltip"),
    jsonLink: $("json-link"), svgLink: $("svg-link"),
  };

  const state = {
    config: null,
    symbol: null,
    window: null,
    exchange: null,        // "all" (the venues' sum) or a venue
    stack: "leverage",     // bars by "leverage" or "venue"
    leverages: new Set(),
    available: [],  // the leverages of the map shown (a venue caps them)
    bookmarked: [],  // leverages a link asked for, applied once the map's own are known
    range: "",
    version: null,         // version of the map shown
    ageAtFetch: null,      // age_s the server reported when it was fetched
    fetchedAt: 0,          // performance.now() at that fetch
    loads: 0,
    stream: null,
    streamOpened: false,   // the stream has been open before (a later open is a reconnect)
    streamUpdates: 0,      // redraws caused by /stream/maps events
    streamOpen: false,
  };

  /* ---------- fetching and inlining ---------- */

  function chartSize(container, ratio, minH, maxH) {
    const width = Math.max(320, Math.min(2400, Math.round(container.clientWidth || 1200)));
    const height = Math.max(minH, Math.min(maxH, Math.round(width * ratio)));
    return { width, height };
  }

  /** Whether some of the shown map's leverages are switched off. */
  function filtersLeverages() {
    return state.available.some((lev) => !state.leverages.has(lev));
  }

  /** One box per leverage of the map shown. With every box on before, every box is on;
   *  else those switched on stay on (all of them when none is left). */
  function showLeverages(levs) {
    const kept = filtersLeverages() ? levs.filter((lev) => state.leverages.has(lev)) : levs;
    state.available = levs;
    state.leverages = new Set(kept.length ? kept : levs);
    const boxes = levs.map((lev) => {
      const label = document.createElement("label");
      const box = document.createElement("input");
      box.type = "checkbox";
      box.value = String(lev);
      box.checked = state.leverages.has(lev);
      box.addEventListener("change", () => {
        if (box.checked) state.leverages.add(lev); else state.leverages.delete(lev);
        if (state.leverages.size === 0) {  // at least one layer stays on
          box.checked = true;
          state.leverages.add(lev);
        }
        changed(false);
      });
      label.append(box, `${lev}x`);
      return label;
    });
    els.leverages.replaceChildren(els.leverages.querySelector("legend"), ...boxes);
  }

  function mapUrl() {
    const { width, height } = chartSize(els.map, 0.46, 360, 640);
    const params = new URLSearchParams({
      window: state.window, exchange: state.exchange, stack: state.stack, width, height,
    });
    if (state.stack === "leverage" && filtersLeverages()) {
      for (const lev of state.leverages) params.append("leverage", lev);
    }
    if (state.range) params.set("range_pct", state.range);
    return `/map/${encodeURIComponent(state.symbol)}.svg?${params}`;
  }

  function heatmapUrl() {
    const { width, height } = chartSize(els.heatmap, 0.32, 280, 520);
    const params = new URLSearchParams({
      window: state.window, exchange: state.exchange, width, height,
    });
    if (state.range) params.set("range_pct", state.range);
    return `/map/${encodeURIComponent(state.symbol)}/heatmap.svg?${params}`;
  }

  async function problemText(response) {
    try {
      const body = await response.json();
      return body.detail || `${response.status} ${response.statusText}`;
    } catch (_) {
      return `${response.status} ${response.statusText}`;
    }
  }

  /** Replace a container's content with an SVG document's root, <title>s as data-tip. */
  function inline(container, svgText) {
    const doc = new DOMParser().parseFromString(svgText, "image/svg+xml");
    const svg = doc.documentElement;
    if (svg.nodeName !== "svg") throw new Error("the server did not answer with an SVG");
    for (const title of Array.from(svg.querySelectorAll("title"))) {
      if (title.parentNode && title.parentNode !== svg) {
        title.parentNode.setAttribute("data-tip", title.textContent);
        title.remove();
      }
    }
    const node = document.importNode(svg, true);
    container.replaceChildren(node);
    return node;
  }

  /** One loader per chart: overlapping requests collapse into one follow-up. */
  function loader(container, urlOf, onSvg) {
    let running = false;
    let again = false;
    let generation = 0;
    async function load() {
      if (running) { again = true; return; }
      running = true;
      const mine = ++generation;
      try {
        const response = await fetch(urlOf(), { cache: "no-store" });
        if (mine !== generation) return;
        if (!response.ok) {
          const detail = await problemText(response);
          const p = document.createElement("p");
          p.className = "problem";
          p.textContent = detail;
          container.replaceChildren(p);
          container.dataset.error = String(response.status);
          return;
        }
        const svg = inline(container, await response.text());
        delete container.dataset.error;
        onSvg(svg, response);
      } catch (err) {
        const p = document.createElement("p");
        p.className = "problem";
        p.textContent = `Could not load the chart: ${err.message}`;
        container.replaceChildren(p);
        container.dataset.error = "network";
      } finally {
        container.removeAttribute("aria-busy");
        running = false;
        if (again) { again = false; load(); }
      }
    }
    load.reset = () => { generation++; };
    return load;
  }

  const loadMap = loader(els.map, mapUrl, (svg) => {
    const d = svg.dataset;
    const levs = (d.leverages || "").split(",").filter(Boolean).map(Number);
    if (state.bookmarked.length) {
      const kept = state.bookmarked.filter((lev) => levs.includes(lev));
      state.bookmarked = [];
      state.available = levs;
      state.leverages = new Set(kept.length ? kept : levs);
      showLeverages(levs);
      if (filtersLeverages()) changed(false);
    } else if (levs.join() !== state.available.join()) {
      showLeverages(levs);
    }
    state.version = Number(d.version);
    state.ageAtFetch = Number(d.ageS);
    state.fetchedAt = performance.now();
    state.loads += 1;
    Object.assign(els.map.dataset, {
      symbol: d.symbol, window: d.window, version: d.version, price: d.price,
      exchange: d.exchange, stack: d.stack, venues: d.venues,
      shownLeverages: d.shownLeverages, loads: String(state.loads), loadId: window.__loadId,
    });
    fillClusters(svg);
    tick();
  });

  const loadHeatmap = loader(els.heatmap, heatmapUrl, (svg) => {
    els.heatmap.dataset.window = svg.dataset.window;
    els.heatmap.dataset.snapshots = svg.dataset.snapshots;
  });

  function reloadAll() {
    loadMap();
    loadHeatmap();
    showOnlineScore().catch(() => {});
  }

  /* ---------- the online score against realised liquidations, one line ---------- */

  function pct(value) {
    return value === null || value === undefined ? "–" : `${(100 * value).toFixed(1)}%`;
  }

  async function showOnlineScore() {
    const line = document.getElementById("online-score");
    const response = await fetch("/model", { cache: "no-store" });
    if (!response.ok) return;
    const score = (await response.json()).online_score;
    const symbol = state.symbol;
    line.dataset.available = String(score.available);
    if (!score.available) {
      line.dataset.events = "";
      line.textContent = `Realised liquidations: ${score.reason}`;
      return;
    }
    const s = score.symbols[symbol];
    const feed = score.feed;
    line.dataset.events = String(s.events);
    line.dataset.symbol = symbol;
    let text = `Online score of the ${score.map_window} map, last ${score.window_hours} h: ` +
      `${s.events} ${symbol} liquidations, ${compact(s.realised_notional_quote)} realised`;
    if (s.in_range_events) {
      text += `; the map's top-decile bands took ${pct(s.top_decile_share)} of it` +
        ` (a uniform map: ${pct(s.uniform_share)}), mean band percentile` +
        ` ${s.mean_band_percentile.toFixed(2)} (0.50 = no skill),` +
        ` on the predicted side ${pct(s.side_match_rate)}`;
    }
    text += `. Feed ${feed.exchange}: ${feed.state}`;
    if (feed.reconnects) text += `, ${feed.reconnects} reconnect${feed.reconnects > 1 ? "s" : ""}`;
    if (feed.sampled) text += `. ${feed.sampling_note}`;
    line.textContent = text;
  }

  /* ---------- clusters table ---------- */

  function compact(value) {
    const units = [[1e12, "T"], [1e9, "B"], [1e6, "M"], [1e3, "k"]];
    for (const [limit, suffix] of units) {
      if (Math.abs(value) >= limit) {
        const scaled = value / limit;
        const digits = Math.abs(scaled) >= 100 ? 0 : Math.abs(scaled) >= 10 ? 1 : 2;
        return `${Number(scaled.toFixed(digits))}${suffix}`;
      }
    }
    return String(Math.round(value));
  }

  function fmtPrice(value) {
    const decimals = value >= 1000 ? 1 : value >= 1 ? 3 : 6;
    return Number(value).toLocaleString("en-US", { maximumFractionDigits: decimals });
  }

  function fillClusters(svg) {
    const groups = Array.from(svg.querySelectorAll("g.cluster"))
      .map((g) => ({ g, rank: Number(g.dataset.rank) }))
      .sort((a, b) => a.rank - b.rank)
      .slice(0, 10);
    const rows = groups.map(({ g, rank }) => {
      const d = g.dataset;
      const tr = document.createElement("tr");
      tr.dataset.rank = String(rank);
      const cells = [
        `<span class="swatch" style="background:${d.colour}"></span>${rank}`,
        d.side === "long" ? "long (below)" : "short (above)",
        `${fmtPrice(Number(d.priceLow))} – ${fmtPrice(Number(d.priceHigh))}`,
        `${Number(d.distancePct).toFixed(2)}%`,
        compact(Number(d.notional)),
        Number(d.intensity).toFixed(2),
      ];
      tr.innerHTML = cells.map((c) => `<td>${c}</td>`).join("");
      tr.addEventListener("mouseenter", () => g.classList.add("highlight"));
      tr.addEventListener("mouseleave", () => g.classList.remove("highlight"));
      return tr;
    });
    els.clusters.replaceChildren(...rows);
  }

  /* ---------- age and staleness ---------- */

  function ageNow() {
    if (state.ageAtFetch === null || Number.isNaN(state.ageAtFetch)) return null;
    return state.ageAtFetch + (performance.now() - state.fetchedAt) / 1000;
  }

  function tick() {
    const age = ageNow();
    if (age === null) { els.age.textContent = ""; return; }
    const limit = state.config.max_map_age_s;
    const stale = age > limit;
    els.age.textContent = `v${state.version} · updated ${Math.floor(age)} s ago`;
    els.age.classList.toggle("is-stale", stale);
    els.map.classList.toggle("is-stale", stale);
    els.stale.hidden = !stale;
    if (stale) {
      const shown = age < 10 ? age.toFixed(1) : Math.floor(age);
      els.stale.textContent = `STALE: this map is ${shown} s old (limit ${limit} s). ` +
        "The worker has stopped or is failing; the chart shows the last map it stored " +
        "(see /readyz).";
    }
    document.body.dataset.stale = String(stale);
    if (state.streamOpen) els.live.textContent = stale ? "connected, no updates" : "live";
  }

  /* ---------- live updates ---------- */

  function setLive(open, text) {
    state.streamOpen = open;
    els.live.classList.toggle("open", open);
    els.live.textContent = text;
  }

  function openStream() {
    if (state.stream) state.stream.close();
    state.streamOpened = false;
    const query = new URLSearchParams({ symbol: state.symbol, exchange: state.exchange });
    const stream = new EventSource(`/stream/maps?${query}`);
    state.stream = stream;
    stream.addEventListener("open", () => {
      setLive(true, "live");
      if (state.streamOpened) reloadAll();  // catch up on what was missed while away
      state.streamOpened = true;
    });
    stream.addEventListener("map", (event) => {
      const update = JSON.parse(event.data);
      if (update.symbol !== state.symbol || update.window !== state.window) return;
      if (state.version !== null && update.version <= state.version) return;
      state.streamUpdates += 1;
      els.map.dataset.streamUpdates = String(state.streamUpdates);
      reloadAll();
    });
    stream.addEventListener("error", () => setLive(false, "reconnecting"));
  }

  /* ---------- tooltips ---------- */

  function showTip(event) {
    const target = event.target.closest ? event.target.closest("[data-tip]") : null;
    if (!target) { els.tooltip.hidden = true; return; }
    const [head, ...rest] = target.getAttribute("data-tip").split("\n");
    els.tooltip.replaceChildren();
    const strong = document.createElement("strong");
    strong.textContent = head;
    els.tooltip.append(strong, rest.join("\n"));
    els.tooltip.hidden = false;
    const pad = 14;
    const box = els.tooltip.getBoundingClientRect();
    let x = event.clientX + pad;
    let y = event.clientY + pad;
    if (x + box.width > window.innerWidth) x = event.clientX - box.width - pad;
    if (y + box.height > window.innerHeight) y = event.clientY - box.height - pad;
    els.tooltip.style.left = `${Math.max(0, x)}px`;
    els.tooltip.style.top = `${Math.max(0, y)}px`;
  }

  for (const chart of [els.map, els.heatmap]) {
    chart.addEventListener("mousemove", showTip);
    chart.addEventListener("mouseleave", () => { els.tooltip.hidden = true; });
  }

  /* ---------- controls ---------- */

  function option(value, label) {
    const o = document.createElement("option");
    o.value = value;
    o.textContent = label;
    return o;
  }

  /** The symbol's maps (`all` first when it has several venues) as the venue options. */
  function fillExchanges(wanted) {
    const choices = state.config.exchanges[state.symbol] || [];
    state.exchange = choices.includes(wanted) ? wanted : choices[0];
    els.exchange.replaceChildren(...choices.map((e) => option(e, e)));
    els.exchange.value = state.exchange;
  }

  function setStack(stack) {
    state.stack = stack === "venue" ? "venue" : "leverage";
    els.stack.value = state.stack;
    els.leverages.disabled = state.stack === "venue";  // a venue's bars hold every leverage
  }

  function buildControls(config) {
    const params = new URLSearchParams(location.search);
    const symbol = (params.get("symbol") || "").toUpperCase();
    state.symbol = config.symbols.includes(symbol) ? symbol : config.symbols[0];
    fillExchanges(params.get("exchange"));
    setStack(params.get("stack"));
    const win = params.get("window");
    state.window = config.windows.includes(win) ? win : config.default_window;
    // A link's leverages wait for the first map: a venue may cap it below the settings' mix,
    // and asking for a leverage the map lacks is a 422, not a chart.
    state.bookmarked = params.getAll("leverage").map(Number).filter(Number.isFinite);
    state.available = config.leverages;
    state.leverages = new Set(config.leverages);
    state.range = ["2", "5", "10", "20"].includes(params.get("range")) ? params.get("range") : "";

    els.symbol.replaceChildren(...config.symbols.map((s) => option(s, s)));
    els.symbol.value = state.symbol;
    els.window.replaceChildren(...config.windows.map((w) => option(w, w)));
    els.window.value = state.window;
    els.range.value = state.range;
    showLeverages(config.leverages);

    els.symbol.addEventListener("change", () => {
      state.symbol = els.symbol.value;
      fillExchanges(state.exchange);
      state.leverages = new Set(state.available);
      changed(true);
    });
    els.exchange.addEventListener("change", () => {
      state.exchange = els.exchange.value;
      state.leverages = new Set(state.available);
      changed(true);
    });
    els.stack.addEventListener("change", () => {
      setStack(els.stack.value);
      changed(false);
    });
    els.window.addEventListener("change", () => {
      state.window = els.window.value;
      changed(false);
    });
    els.range.addEventListener("change", () => {
      state.range = els.range.value;
      changed(false);
    });
  }

  function syncUrl() {
    document.title = `${state.symbol} ${state.window} · liquidation map · execsvc`;
    const params = new URLSearchParams({
      symbol: state.symbol, window: state.window, exchange: state.exchange,
    });
    if (state.stack === "venue") params.set("stack", "venue");
    if (filtersLeverages()) {
      for (const lev of state.leverages) params.append("leverage", lev);
    }
    if (state.range) params.set("range", state.range);
    history.replaceState(null, "", `${location.pathname}?${params}`);
    const base = `/map/${encodeURIComponent(state.symbol)}`;
    const query = `window=${state.window}&exchange=${encodeURIComponent(state.exchange)}`;
    els.jsonLink.href = `${base}?${query}`;
    els.svgLink.href = `${base}.svg?${query}&stack=${state.stack}`;
  }

  function changed(symbolChanged) {
    state.version = null;
    state.ageAtFetch = null;
    loadMap.reset();
    loadHeatmap.reset();
    syncUrl();
    reloadAll();
    if (symbolChanged) openStream();
  }

  function watchResize() {
    let lastWidth = els.map.clientWidth;
    let timer = null;
    new ResizeObserver(() => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        if (Math.abs(els.map.clientWidth - lastWidth) > 8) {
          lastWidth = els.map.clientWidth;
          reloadAll();
        }
      }, 250);
    }).observe(els.map);
  }

  /* ---------- the model's version and its out-of-sample scores, one line ---------- */

  async function showModel() {
    const line = document.getElementById("model-line");
    const response = await fetch("/model", { cache: "no-store" });
    if (!response.ok) return;
    const model = await response.json();
    const card = model.last_evaluation;
    const triple = (row) => ["long", "short", "total"]
      .map((side) => row[side].value.toFixed(2)).join(" / ");
    let text = `Model ${model.model_version}`;
    if (card && card.lowo) {
      text += ` · accuracy, leave-one-week-out within-coin Spearman (long / short / total):` +
        ` map ${triple(card.lowo.map)}, naive OI×move ${triple(card.lowo.naive)}` +
        ` on ${card.evaluated_on.days} ${card.evaluated_on.venue} coin-days`;
      if (!model.last_evaluation_matches_running_model) text += " (evaluated: another version)";
    } else {
      text += " · not evaluated";
    }
    line.textContent = text;
  }

  async function start() {
    const response = await fetch("/ui/config.json", { cache: "no-store" });
    state.config = await response.json();
    buildControls(state.config);
    syncUrl();
    reloadAll();
    openStream();
    watchResize();
    setInterval(tick, 1000);
    showModel().catch(() => {});
  }

  start().catch((err) => {
    els.map.replaceChildren(Object.assign(document.createElement("p"), {
      className: "problem", textContent: `The page could not start: ${err.message}`,
    }));
  });
})();
