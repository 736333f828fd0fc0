// The live dashboard: GET /status once a second, five minutes of history in
// uPlot charts, the latest sample in tiles, meters and tables.
import { api, ApiError } from './api.js';
import { el, clear, fmt, bytes, meter } from './ui.js';

const PERIOD_MS = 1000;
const HISTORY = 300; // samples: five minutes at one a second
const STAGES = ['admission', 'decode', 'detect', 'landmark', 'recognize'];
const NETS = ['detect', 'landmark', 'recognize'];

const colors = ['#2563eb', '#16a34a', '#dc2626', '#9333ea', '#ea580c', '#0891b2'];

// The dashboard keeps polling while other pages are shown (one small
// request a second), so that its history survives a look at People.
export class Dashboard {
  constructor() {
    this.root = el('div', { class: 'dashboard' });
    this.timer = null;
    this.prev = null; // the previous sample, for per-interval figures
    this.hist = { t: [], faces: [], images: [], util: [], gpu: [], p50: [], p95: [], p99: [] };
    for (const s of STAGES) this.hist['q_' + s] = [];
    this.charts = [];
    this.build();
  }

  build() {
    const tile = (id, label, unit) =>
      el('div', { class: 'tile' }, el('div', { class: 'tile-label' }, label),
        el('div', { class: 'tile-value', id, 'data-testid': id }, '–'), el('div', { class: 'tile-unit' }, unit));
    this.tiles = el('div', { class: 'tiles' },
      tile('faces-per-s', 'Faces/s', 'last second'),
      tile('images-per-s', 'Images/s', 'last second'),
      tile('in-flight', 'In flight', 'images'),
      tile('queued', 'Queued', 'images'),
      tile('images-total', 'Images', 'since start'),
      tile('faces-total', 'Faces', 'since start'),
      tile('errors-total', 'Errors', 'HTTP 4xx/5xx'),
      tile('uptime', 'Uptime', ''));
    this.chartBox = el('div', { class: 'charts' });
    this.batches = el('div', { class: 'panel' });
    this.memory = el('div', { class: 'panel' });
    this.gpu = el('div', { class: 'panel' });
    this.latency = el('div', { class: 'panel wide' });
    this.errors = el('div', { class: 'panel' });
    this.users = el('div', { class: 'panel' });
    this.state = el('p', { class: 'muted', id: 'dash-state' }, 'Connecting…');
    clear(this.root, el('h1', {}, 'Dashboard'), this.state, this.tiles, this.chartBox,
      el('div', { class: 'panels' }, this.batches, this.memory, this.gpu, this.errors, this.users, this.latency));
    this.makeCharts();
  }

  makeCharts() {
    const specs = [
      { title: 'Throughput (per second)', series: [['faces/s', 'faces'], ['images/s', 'images']] },
      { title: 'Queue depth (images)', series: STAGES.map((s) => [s, 'q_' + s]) },
      { title: 'Latency per image (ms)', series: [['p50', 'p50'], ['p95', 'p95'], ['p99', 'p99']] },
      { title: 'Device busy (%)', series: [['device', 'util'], ['GPU (NVML)', 'gpu']] },
    ];
    this.specs = specs;
    for (const spec of specs) {
      const box = el('div', { class: 'chart' }, el('h2', {}, spec.title));
      this.chartBox.append(box);
      spec.box = box;
    }
    // uPlot sizes in pixels: follow the boxes' widths.
    this.ro = new ResizeObserver(() => this.resize());
    this.ro.observe(this.chartBox);
    if (typeof uPlot === 'undefined') {
      this.chartBox.append(el('p', { class: 'error' }, 'The chart library did not load.'));
      return;
    }
    for (const spec of specs) {
      const opts = {
        width: Math.max(200, spec.box.clientWidth - 16),
        height: 180,
        legend: { live: false },
        cursor: { show: true, drag: { x: false, y: false } },
        scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] } },
        axes: [{ stroke: '#64748b' }, { stroke: '#64748b', size: 48 }],
        series: [{}, ...spec.series.map(([label], i) => ({ label, stroke: colors[i % colors.length], width: 1.5 }))],
      };
      spec.chart = new uPlot(opts, this.data(spec), spec.box);
      this.charts.push(spec.chart);
    }
  }

  data(spec) {
    return [this.hist.t, ...spec.series.map(([, key]) => this.hist[key])];
  }

  resize() {
    for (const spec of this.specs || []) {
      if (spec.chart) spec.chart.setSize({ width: Math.max(200, spec.box.clientWidth - 16), height: 180 });
    }
  }

  start() {
    if (this.timer !== null) return; // running (0: the first request is out)
    const tick = async () => {
      await this.poll();
      if (this.timer !== null) this.timer = setTimeout(tick, PERIOD_MS);
    };
    this.timer = 0;
    tick();
  }

  stop() {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  async poll() {
    let s;
    try {
      s = await api('GET', '/status');
      if (this.timer === null) return; // stopped (another page) while the request was out
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 401)) this.state.textContent = `Cannot read /status: ${e.message}`;
      return;
    }
    this.state.textContent = s.ready ? `Live · backend ${s.device && s.device.backend} · updated every second`
      : 'Models are loading…';
    this.record(s);
    this.render(s);
    this.prev = { s, at: performance.now() };
  }

  record(s) {
    const h = this.hist;
    const push = (k, v) => {
      h[k].push(v);
      if (h[k].length > HISTORY) h[k].shift();
    };
    const tp = s.throughput || {};
    // Whole seconds: the axis then ticks on seconds. Polls are at least a
    // second apart, so the times stay strictly increasing.
    push('t', Math.round(Date.now() / 1000));
    push('faces', tp.faces_per_s_1s || 0);
    push('images', tp.images_per_s_1s || 0);
    const ps = (s.queue && s.queue.per_stage) || {};
    for (const st of STAGES) push('q_' + st, ps[st] || 0);
    const lt = (s.latency_ms && s.latency_ms.total) || {};
    push('p50', lt.p50 || 0);
    push('p95', lt.p95 || 0);
    push('p99', lt.p99 || 0);
    const du = s.device_utilization || {};
    push('util', 100 * (du.busy_1s || 0));
    push('gpu', du.gpu ? 100 * du.gpu.utilization : null);
    for (const spec of this.specs || []) if (spec.chart) spec.chart.setData(this.data(spec));
  }

  render(s) {
    const set = (id, v) => { this.tiles.querySelector('#' + id).textContent = v; };
    const tp = s.throughput || {};
    const srv = s.server || {};
    const req = srv.requests || {};
    const by = req.by_status || {};
    let errors = 0;
    for (const [code, n] of Object.entries(by)) if (Number(code) >= 400) errors += n;
    set('faces-per-s', fmt(tp.faces_per_s_1s || 0));
    set('images-per-s', fmt(tp.images_per_s_1s || 0));
    set('in-flight', fmt((s.in_flight && s.in_flight.images) || 0));
    set('queued', fmt((s.queue && s.queue.total) || 0));
    set('images-total', fmt(tp.images_total || 0));
    set('faces-total', fmt(tp.faces_total || 0));
    set('errors-total', fmt(errors));
    set('uptime', duration(srv.uptime_s || s.uptime_s || 0));
    this.renderBatches(s);
    this.renderMemory(s);
    this.renderGpu(s);
    this.renderErrors(by);
    this.renderUsers(s);
    this.renderLatency(s);
  }

  // Mean batch over the last interval (from the counters' differences),
  // against the net's limit.
  renderBatches(s) {
    const rows = NETS.map((net) => {
      const b = (s.batches && s.batches[net]) || {};
      const p = this.prev && this.prev.s.batches && this.prev.s.batches[net];
      let mean = b.mean_size || 0;
      let note = 'since start';
      if (p && b.count > p.count) {
        mean = (b.items - p.items) / (b.count - p.count);
        note = 'last second';
      }
      return meter(net, mean, b.limit || 0, `${fmt(mean)} / ${b.limit || '–'} (${note})`);
    });
    clear(this.batches, el('h2', {}, 'Mean batch per net'), ...rows);
  }

  renderMemory(s) {
    const m = s.memory || {};
    const rows = [
      meter('device', m.device_used || 0, m.device_limit || 0,
        `${bytes(m.device_used)} / ${bytes(m.device_limit)} (peak ${bytes(m.device_peak)})`),
      meter('host', m.host_used || 0, m.host_limit || 0,
        `${bytes(m.host_used)} / ${bytes(m.host_limit)} (peak ${bytes(m.host_peak)})`),
    ];
    const du = s.device_utilization || {};
    rows.push(meter('device busy', du.busy_1s || 0, 1,
      `${fmt(100 * (du.busy_1s || 0))}% (1 s) · ${fmt(100 * (du.busy_60s || 0))}% (60 s)`));
    clear(this.memory, el('h2', {}, 'Device and memory'), ...rows);
  }

  // Every GPU NVML reports: /status carries the first, /metrics all of
  // them (read only when /status says there is one).
  async renderGpu(s) {
    const g = s.device_utilization && s.device_utilization.gpu;
    if (!g) {
      clear(this.gpu, el('h2', {}, 'GPUs'), el('p', { class: 'muted' }, 'No NVIDIA GPU (NVML) on this server.'));
      return;
    }
    // /status gives the share as 0..1; the panel shows percent, as /metrics is read.
    let gpus = [{ ...g, utilization: 100 * g.utilization }];
    try {
      const m = parseGpus(await api('GET', '/metrics', undefined, { text: true }));
      if (m.length) gpus = m;
    } catch { /* keep the one from /status */ }
    clear(this.gpu, el('h2', {}, `GPUs (${gpus.length})`), ...gpus.map((x) => el('div', { class: 'gpu' },
      el('p', { class: 'gpu-name' }, `${x.index}: ${x.name}`),
      meter('utilisation', x.utilization, 100, `${fmt(x.utilization)}%`),
      meter('memory', x.memory_used, x.memory_total, `${bytes(x.memory_used)} / ${bytes(x.memory_total)}`),
      el('p', { class: 'muted' },
        `${x.temperature_c != null ? fmt(x.temperature_c) + ' °C' : 'temperature –'} · ` +
        `${x.power_w != null ? fmt(x.power_w) + ' W' : 'power –'}`))));
  }

  renderErrors(by) {
    const prev = (this.prev && this.prev.s.server && this.prev.s.server.requests &&
      this.prev.s.server.requests.by_status) || {};
    const codes = Object.keys(by).sort();
    const body = codes.map((code) => el('tr', { class: Number(code) >= 400 ? 'bad' : '' },
      el('td', {}, code), el('td', { class: 'num' }, fmt(by[code])),
      el('td', { class: 'num' }, fmt(by[code] - (prev[code] || 0)))));
    clear(this.errors, el('h2', {}, 'Responses by status'),
      codes.length ? el('table', {}, el('thead', {}, el('tr', {}, el('th', {}, 'status'), el('th', {}, 'total'),
        el('th', {}, 'last s'))), el('tbody', {}, body)) : el('p', { class: 'muted' }, 'No requests yet.'));
  }

  renderUsers(s) {
    const users = (s.gallery && s.gallery.users) || {};
    const queued = (s.queue && s.queue.per_user) || {};
    const names = [...new Set([...Object.keys(users), ...Object.keys(queued)])].sort();
    const rows = names.map((n) => {
      const u = users[n] || {};
      const q = queued[n] || {};
      return el('tr', {}, el('td', {}, n, u.admin ? el('span', { class: 'badge' }, 'admin') : null),
        el('td', { class: 'num' }, fmt(u.people)), el('td', { class: 'num' }, fmt(u.faces)),
        el('td', { class: 'num' }, fmt(q.queued || 0)), el('td', { class: 'num' }, fmt(q.in_flight || 0)));
    });
    clear(this.users, el('h2', {}, 'Users'),
      rows.length ? el('table', { id: 'users-table' }, el('thead', {}, el('tr', {}, el('th', {}, 'user'),
        el('th', {}, 'people'), el('th', {}, 'faces'), el('th', {}, 'queued'), el('th', {}, 'in flight'))),
      el('tbody', {}, rows)) : el('p', { class: 'muted' }, 'No gallery on this server.'));
  }

  renderLatency(s) {
    const lat = s.latency_ms || {};
    const stages = Object.keys(lat);
    const rows = stages.map((st) => el('tr', {}, el('td', {}, st),
      ...['p50', 'p95', 'p99'].map((p) => el('td', { class: 'num' }, fmt(lat[st][p])))));
    clear(this.latency, el('h2', {}, 'Latency percentiles (ms)'),
      el('table', {}, el('thead', {}, el('tr', {}, el('th', {}, 'stage'), el('th', {}, 'p50'), el('th', {}, 'p95'),
        el('th', {}, 'p99'))), el('tbody', {}, rows)));
  }
}

// The facerec_gpu_* series of a Prometheus text exposition, by GPU.
const GPU_SERIES = {
  facerec_gpu_utilization_ratio: ['utilization', 100],
  facerec_gpu_memory_used_bytes: ['memory_used', 1],
  facerec_gpu_memory_total_bytes: ['memory_total', 1],
  facerec_gpu_temperature_celsius: ['temperature_c', 1],
  facerec_gpu_power_watts: ['power_w', 1],
};
export function parseGpus(text) {
  const gpus = new Map();
  const unescape = (v) => v.replace(/\\(["\\n])/g, (_, c) => (c === 'n' ? '\n' : c));
  for (const line of text.split('\n')) {
    const m = line.match(/^(facerec_gpu_[a-z_]+)\{gpu="(\d+)",name="((?:[^"\\]|\\.)*)"\} (\S+)$/);
    if (!m || !GPU_SERIES[m[1]]) continue;
    const [key, scale] = GPU_SERIES[m[1]];
    const i = Number(m[2]);
    if (!gpus.has(i)) gpus.set(i, { index: i, name: unescape(m[3]), temperature_c: null, power_w: null });
    gpus.get(i)[key] = Number(m[4]) * scale;
  }
  return [...gpus.values()].sort((a, b) => a.index - b.index);
}

function duration(sec) {
  sec = Math.floor(sec);
  const d = Math.floor(sec / 86400), h = Math.floor((sec % 86400) / 3600), m = Math.floor((sec % 3600) / 60);
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  return `${m}m ${sec % 60}s`;
}
