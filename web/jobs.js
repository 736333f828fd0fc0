// Jobs: the user's index and cluster runs with their progress, refreshed
// every two seconds while the page is shown.
import { api } from './api.js';
import { el, clear, fmt, errorText } from './ui.js';

export class Jobs {
  constructor(root) {
    this.root = root;
    this.timer = null;
  }

  show() {
    this.table = el('div', { id: 'jobs' }, el('p', { class: 'muted' }, 'Loading…'));
    clear(this.root, el('h1', {}, 'Jobs'),
      el('p', { class: 'muted' }, 'Index runs (facerec index) and clustering (“Group into people”), newest first.'),
      this.table);
    this.stop();
    const tick = async () => {
      await this.load();
      if (this.timer !== null) this.timer = setTimeout(tick, 2000);
    };
    this.timer = 0;
    tick();
  }

  stop() {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  async load() {
    let doc;
    try {
      doc = await api('GET', '/v1/jobs?limit=50');
    } catch (e) {
      clear(this.table, el('p', { class: 'error' }, errorText(e)));
      return;
    }
    if (!doc.jobs.length) {
      clear(this.table, el('p', { class: 'muted' }, 'No jobs yet.'));
      return;
    }
    const rows = doc.jobs.map((j) => {
      const pct = j.total > 0 ? Math.min(100, (100 * (j.done + j.failed)) / j.total) : j.state === 'running' ? 0 : 100;
      const fill = el('div', { class: 'meter-fill' });
      fill.style.width = `${pct}%`;
      return el('tr', { class: `job ${j.state}` },
        el('td', {}, `#${j.id}`), el('td', {}, j.kind), el('td', {}, el('span', { class: `badge ${j.state}` }, j.state)),
        el('td', { class: 'progress' }, el('div', { class: 'meter-track' }, fill),
          el('span', { class: 'muted' }, `${fmt(j.done)} / ${fmt(j.total)}${j.failed ? `, ${fmt(j.failed)} failed` : ''}`)),
        el('td', { class: 'detail' }, j.detail),
        el('td', {}, new Date(j.updated * 1000).toLocaleString()));
    });
    clear(this.table, el('table', {}, el('thead', {}, el('tr', {}, ...['job', 'kind', 'state', 'progress', 'detail',
      'updated'].map((h) => el('th', {}, h)))), el('tbody', {}, rows)));
  }
}
