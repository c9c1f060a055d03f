// The wallboard page: reads the admin token from the URL fragment (#token=...; browsers never send the
// fragment, so the token is in no access log), streams snapshots from <page>/events with fetch() (EventSource
// cannot send an Authorization header) and redraws. Reconnects with exponential backoff; stops on 401/403.
'use strict';
(() => {
  const SVG = 'http://www.w3.org/2000/svg';
  const PALETTE = ['#4fc3f7', '#ba68c8', '#ffd54f', '#4db6ac', '#f06292', '#9575cd', '#aed581', '#ff8a65'];
  const MAX_BACKOFF_MS = 30000;
  const $ = (id) => document.getElementById(id);

  // The fragment's token moves to sessionStorage (survives a reload, not the tab) and leaves the address bar.
  const fragment = new URLSearchParams(location.hash.slice(1));
  if (fragment.get('token')) {
    sessionStorage.setItem('ccp-wallboard-token', fragment.get('token'));
    history.replaceState(null, '', location.pathname + location.search);
  }
  const token = sessionStorage.getItem('ccp-wallboard-token');
  const eventsUrl = location.pathname.replace(/\/+$/, '') + '/events';

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function svg(tag, attrs) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    return node;
  }
  const pct = (x) => `${Math.round(x * 100)}%`;
  function duration(s) {
    s = Math.round(s);
    if (s >= 86400) return '–';
    const m = Math.floor(s / 60);
    return m >= 60 ? `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}` : `${m}:${String(s % 60).padStart(2, '0')}`;
  }
  const hhmm = (t) => new Date(t * 1000).toTimeString().slice(0, 5);

  function status(text, kind) {
    const node = $('status');
    node.textContent = text;
    node.className = `status-${kind}`;
  }
  function message(text) {
    $('message').hidden = !text;
    $('message').textContent = text || '';
  }

  function tile(label, value, sub, cls) {
    const node = el('div', { class: `tile ${cls}` });
    node.append(el('span', { class: 'label' }, label), el('span', { class: 'value' }, value));
    if (sub) node.append(el('span', { class: 'sub' }, sub));
    return node;
  }

  function queueCard(q) {
    const card = el('article', { class: 'queue', 'data-queue': q.name });
    card.append(el('h3', {}, q.name));
    const tiles = el('div', { class: 'tiles' });
    tiles.append(
      tile('service level', pct(q.service_level), `target ${pct(q.sl_target)} in ${q.sl_threshold_s} s`,
           `sl sl-${q.sl_status}`),
      tile('waiting', String(q.waiting), '', 'waiting'),
      tile('longest wait', duration(q.longest_wait_s), `expected ${duration(q.expected_wait_s)}`, 'longest'),
    );
    const a = q.agents;
    const details = el('div', { class: 'details' });
    for (const text of [
      `offered ${q.offered}`, `answered ${q.answered}`, `abandoned ${q.abandoned}`,
      `ASA ${duration(q.asa_s)}`, `agents: ${a.available} available, ${a.busy} busy, ${a.wrap_up} wrap-up, ${a.on_break} break`,
    ]) details.append(el('span', {}, text));
    card.append(tiles, details);
    return card;
  }

  function chart(snapshot) {
    const root = $('chart');
    const legend = $('legend');
    root.replaceChildren();
    legend.replaceChildren();
    const W = 1200, H = 200, left = 44, right = 8, top = 8, bottom = 22;
    const buckets = snapshot.totals.series;
    const n = buckets.length;
    const step = (W - left - right) / n;
    const x = (i) => left + step * (i + 0.5);
    const y = (sl) => top + (1 - sl) * (H - top - bottom);
    for (const level of [0, 0.5, 1]) {
      root.append(svg('line', { class: 'grid', x1: left, x2: W - right, y1: y(level), y2: y(level) }));
      const label = svg('text', { class: 'axis', x: 4, y: y(level) + 4 });
      label.textContent = pct(level);
      root.append(label);
    }
    const most = Math.max(1, ...buckets.map((b) => b.offered));
    buckets.forEach((b, i) => {
      const h = (b.offered / most) * (H - top - bottom) * 0.6;
      root.append(svg('rect', { class: 'bar', x: x(i) - step * 0.3, width: step * 0.6, y: y(0) - h, height: h }));
      if (i % 2 === 0 || i === n - 1) {
        const label = svg('text', { class: 'axis', x: x(i) - 16, y: H - 4 });
        label.textContent = hhmm(b.start);
        root.append(label);
      }
    });
    snapshot.queues.forEach((q, k) => {
      const colour = PALETTE[k % PALETTE.length];
      // Intervals without offered calls have no service level to draw (kpis reports 1.0 for them).
      const points = q.series.map((p, i) => (p.offered > 0 ? `${x(i)},${y(p.service_level)}` : null));
      let run = [];
      for (const p of [...points, null]) {
        if (p) { run.push(p); continue; }
        if (run.length === 1) {
          const [cx, cy] = run[0].split(',');
          root.append(svg('circle', { cx, cy, r: 4, fill: colour }));
        } else if (run.length > 1) {
          root.append(svg('polyline', { class: 'line', points: run.join(' '), stroke: colour }));
        }
        run = [];
      }
      const key = el('span', {}, q.name);
      key.style.setProperty('--swatch', colour);
      legend.append(key);
    });
  }

  function render(snapshot) {
    $('tenant').textContent = snapshot.tenant;
    const t = snapshot.totals;
    $('total-waiting').textContent = String(t.waiting);
    $('total-longest').textContent = duration(t.longest_wait_s);
    $('total-connected').textContent = String(t.connected);
    for (const state of ['available', 'busy', 'wrap_up', 'on_break']) $(`agents-${state}`).textContent = String(t.agents[state]);
    $('clock').textContent = new Date(snapshot.generated_at * 1000).toLocaleTimeString();
    $('queues').replaceChildren(...snapshot.queues.map(queueCard));
    if (!snapshot.queues.length) message('This tenant has no queues yet.');
    chart(snapshot);
  }

  // Server-sent events (WHATWG HTML, "event stream interpretation"), fed chunk by chunk.
  function sseParser(onEvent) {
    let buffer = '', data = [], type = '';
    return (chunk) => {
      buffer += chunk;
      const lines = buffer.split(/\r\n|\r|\n/);
      buffer = lines.pop();
      for (const line of lines) {
        if (line === '') {
          if (data.length) onEvent(type || 'message', data.join('\n'));
          data = []; type = '';
        } else if (!line.startsWith(':')) {
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          let value = colon < 0 ? '' : line.slice(colon + 1);
          if (value.startsWith(' ')) value = value.slice(1);
          if (field === 'data') data.push(value);
          else if (field === 'event') type = value;
        }
      }
    };
  }

  let failures = 0;
  async function connect() {
    status(failures ? 'reconnecting' : 'connecting', failures ? 'retrying' : 'connecting');
    let response;
    try {
      response = await fetch(eventsUrl, { headers: { Authorization: `Bearer ${token}` }, cache: 'no-store' });
    } catch (e) {
      return retry(`cannot reach the node (${e.message})`);
    }
    if (response.status === 401 || response.status === 403) {
      const body = await response.json().catch(() => ({}));
      status('refused', 'failed');
      message(`The node refused this token (${response.status}): ${body.message || response.statusText}. ` +
              'Open the page again with #token=<admin token>.');
      return;
    }
    if (!response.ok || !response.body) return retry(`the node answered ${response.status}`);
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    const feed = sseParser((type, data) => {
      const payload = JSON.parse(data);
      if (type === 'error') {
        status(`stale: ${payload.message}`, 'retrying');
        return;
      }
      failures = 0;
      status('live', 'live');
      message('');
      render(payload);
    });
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        feed(value);
      }
    } catch (e) {
      return retry(`the stream broke (${e.message})`);
    }
    return retry('the stream ended');
  }

  function retry(why) {
    failures += 1;
    const delay = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** (failures - 1)) * (0.75 + Math.random() / 2);
    status(`offline: ${why}; retrying in ${Math.round(delay / 1000)} s`, 'retrying');
    setTimeout(connect, delay);
  }

  if (!token) {
    status('no token', 'failed');
    message('Open this page as /wallboard#token=<admin token> (the token stays in the browser).');
  } else {
    connect();
  }
})();
