// tune serve's page script (plain browser JavaScript, served as /assets/page.js; no build step).
// The server renders every part of a page; this script only keeps it live and draws what needs a
// browser: on each `change` event from the server it fetches the page's parts again and replaces
// the ones whose hash changed (no reload), draws the Vega-Lite plots with vega-embed and the
// flowchart with mermaid, and says how old the in-flight numbers are.
(() => {
  'use strict';
  const body = document.body;
  const api = body.dataset.api;
  const plotsUrl = body.dataset.plots;
  const specs = new Map(); // plot id → { fingerprint, spec }
  let fingerprints = JSON.parse(document.getElementById('plot-fingerprints')?.textContent || '{}');
  let flowchartCount = 0;

  function connection(text) {
    const el = document.getElementById('connection');
    if (!el) return;
    el.hidden = !text;
    el.textContent = text || '';
  }

  async function drawPlots() {
    if (!plotsUrl || typeof window.vegaEmbed !== 'function') return;
    for (const figure of document.querySelectorAll('figure.plot[data-plot]')) {
      const id = figure.dataset.plot;
      const fingerprint = fingerprints[id];
      if (!fingerprint || figure.dataset.drawn === fingerprint) continue;
      figure.dataset.drawn = fingerprint;
      try {
        let entry = specs.get(id);
        if (!entry || entry.fingerprint !== fingerprint) {
          const response = await fetch(`${plotsUrl}/${encodeURIComponent(id)}`, { cache: 'no-store' });
          if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
          entry = { fingerprint, spec: await response.json() };
          specs.set(id, entry);
        }
        let target = figure.querySelector('.vega');
        if (!target) {
          target = document.createElement('div');
          target.className = 'vega';
          figure.prepend(target);
        }
        await window.vegaEmbed(target, entry.spec, {
          renderer: 'svg',
          ast: true, // the expression interpreter: no eval, so the page's Content-Security-Policy holds
          actions: { export: true, source: false, compiled: false, editor: false },
        });
      } catch (error) {
        figure.dataset.drawn = '';
        figure.insertAdjacentHTML('beforeend', `<p class="panel error">This plot could not be drawn: ${String(error.message || error).replace(/[<&]/g, ' ')}</p>`);
      }
    }
  }

  async function drawFlowchart() {
    const source = document.querySelector('[data-part="flowchart"] pre.mermaid-source');
    if (!source || typeof window.mermaid === 'undefined') return;
    try {
      const { svg } = await window.mermaid.render(`flowchart-svg-${++flowchartCount}`, source.textContent);
      const box = document.createElement('div');
      box.className = 'flowchart';
      box.innerHTML = svg;
      box.title = 'click: the whole flowchart / its natural size';
      source.hidden = true;
      source.after(box);
      // Mermaid draws this machine about 5,000 px wide: 70% keeps its labels readable (click: all of it).
      const drawn = box.querySelector('svg');
      const width = drawn?.viewBox?.baseVal?.width;
      if (drawn && width) drawn.style.width = `${Math.round(width * 0.7)}px`;
      const centre = () => {
        // The state the study is in, in the middle of the scrolled box.
        const current = box.querySelector('g.current');
        if (!current) return;
        const node = current.getBoundingClientRect();
        const frame = box.getBoundingClientRect();
        box.scrollLeft += node.left - frame.left - box.clientWidth / 2 + node.width / 2;
        box.scrollTop += node.top - frame.top - box.clientHeight / 2 + node.height / 2;
      };
      box.addEventListener('click', () => {
        box.classList.toggle('fit');
        centre();
      });
      centre();
    } catch (error) {
      source.insertAdjacentHTML('beforebegin', '<p class="panel error">The flowchart could not be drawn; its source follows.</p>');
    }
  }

  /** Replaces the parts whose hash changed, adds new ones in order, removes gone ones. */
  function applyParts(parts) {
    const main = document.querySelector('main');
    const wanted = new Set(parts.map((p) => p.id));
    for (const section of main.querySelectorAll(':scope > section[data-part]')) {
      if (!wanted.has(section.dataset.part)) section.remove();
    }
    let previous = null;
    const changed = new Set();
    for (const part of parts) {
      let section = main.querySelector(`:scope > section[data-part="${CSS.escape(part.id)}"]`);
      if (!section) {
        section = document.createElement('section');
        section.dataset.part = part.id;
        if (previous) previous.after(section);
        else main.prepend(section);
      }
      if (section.dataset.hash !== part.hash) {
        section.innerHTML = part.html;
        section.dataset.hash = part.hash;
        changed.add(part.id);
      }
      previous = section;
    }
    return changed;
  }

  let refreshing = null;
  let again = false;
  async function refresh() {
    if (refreshing) {
      again = true;
      return refreshing;
    }
    refreshing = (async () => {
      do {
        again = false;
        const response = await fetch(api, { cache: 'no-store' });
        if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
        const page = await response.json();
        document.title = page.title;
        fingerprints = page.plots;
        const changed = applyParts(page.parts);
        if (changed.has('flowchart')) await drawFlowchart();
        await drawPlots();
        tick();
      } while (again);
    })()
      .catch((error) => connection(`could not refresh the page (${error.message}); retrying on the next change`))
      .finally(() => (refreshing = null));
    return refreshing;
  }

  /** "as of 12:03:04 UTC (5 s ago)" on the in-flight numbers. */
  function tick() {
    for (const el of document.querySelectorAll('time[data-ago]')) {
      const at = Date.parse(el.getAttribute('datetime'));
      if (!Number.isFinite(at)) continue;
      el.dataset.text ??= el.textContent;
      const s = Math.max(0, Math.round((Date.now() - at) / 1000));
      el.textContent = `${el.dataset.text} (${s < 120 ? `${s} s` : `${Math.round(s / 60)} min`} ago)`;
    }
  }

  function listen() {
    if (typeof EventSource === 'undefined') {
      setInterval(refresh, 2000); // no server-sent events: poll
      return;
    }
    const events = new EventSource(body.dataset.events);
    // On (re)connecting, catch up with anything written meanwhile: parts whose hash is unchanged are left alone.
    events.addEventListener('ready', () => {
      connection('');
      refresh();
    });
    events.addEventListener('change', () => refresh());
    events.onerror = () => connection('connection to tune serve lost; reconnecting…');
  }

  if (typeof window.mermaid !== 'undefined') window.mermaid.initialize({ startOnLoad: false, securityLevel: 'strict', theme: 'neutral', state: { useMaxWidth: false } });
  drawFlowchart();
  drawPlots();
  listen();
  setInterval(tick, 1000);
  tick();
})();
