// The app shell: sign-in with an API key, the navigation (hash routes, so
// that the server needs to know only its own files) and the pages.
import { api, getKey, setKey, clearKey, onUnauthorized, forgetThumbnails } from './api.js';
import { el, clear, toast, errorText } from './ui.js';
import { Dashboard } from './dashboard.js';
import { People } from './people.js';
import { Recognize } from './recognize.js';
import { Jobs } from './jobs.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const who = document.getElementById('who');
let dashboard = null;
const people = new People(main, (h) => { location.hash = h; });
const recognize = new Recognize(main);
const jobs = new Jobs(main);

function signIn(message) {
  if (dashboard) dashboard.stop();
  dashboard = null;
  jobs.stop();
  nav.hidden = true;
  who.textContent = '';
  const key = el('input', { type: 'password', id: 'api-key', name: 'key', autocomplete: 'off', required: true,
    placeholder: 'fr_…', 'aria-label': 'API key' });
  const err = el('p', { class: 'error', id: 'signin-error', role: 'alert' }, message || '');
  const form = el('form', { class: 'signin', id: 'signin' },
    el('h1', {}, 'Sign in'),
    el('p', { class: 'muted' }, 'With an API key from ', el('code', {}, 'facerec user add NAME'),
      '. It is kept in this tab only (sessionStorage) and sent as the X-API-Key header.'),
    key, el('button', { type: 'submit' }, 'Sign in'), err);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    err.textContent = '';
    try {
      const s = await api('GET', '/status', undefined, { key: key.value.trim() });
      setKey(key.value.trim());
      start(s);
    } catch (e) {
      err.textContent = e.status === 401 ? 'This key is not valid.' : errorText(e);
    }
  });
  clear(main, form);
  key.focus();
}

function userOf(s) {
  const users = (s.gallery && s.gallery.users) || {};
  const names = Object.keys(users);
  // A user key sees its own entry only; an admin key sees everyone's.
  const admin = names.filter((n) => users[n].admin);
  if (names.length === 1) return { name: names[0], admin: !!users[names[0]].admin };
  // Without a data directory there is no gallery: keys come from a file and
  // /status names no one until the key's user has queued work.
  if (!names.length) return { name: 'signed in', admin: false };
  return { name: admin.length === 1 ? admin[0] : 'admin', admin: true };
}

function start(s) {
  const u = userOf(s);
  clear(who, el('span', { id: 'user-name' }, u.name), u.admin ? el('span', { class: 'badge' }, 'admin') : null);
  nav.hidden = false;
  if (!location.hash || location.hash === '#/' || location.hash === '#') location.hash = '#/dashboard';
  route();
}

function route() {
  if (!getKey()) return signIn();
  const h = location.hash || '#/dashboard';
  for (const a of nav.querySelectorAll('a')) a.classList.toggle('active', h.startsWith(a.getAttribute('href')));
  if (!h.startsWith('#/jobs')) jobs.stop();
  let m;
  if (h.startsWith('#/dashboard')) {
    if (!dashboard) dashboard = new Dashboard();
    if (dashboard.root.parentNode !== main) clear(main, dashboard.root);
    dashboard.start();
  } else if ((m = h.match(/^#\/people\/(\d+)$/))) {
    people.showPerson(Number(m[1]));
  } else if (h.startsWith('#/people')) {
    people.showList();
  } else if (h.startsWith('#/recognize')) {
    recognize.show();
  } else if (h.startsWith('#/jobs')) {
    jobs.show();
  } else {
    location.hash = '#/dashboard';
  }
}

document.getElementById('sign-out').addEventListener('click', () => {
  clearKey();
  forgetThumbnails();
  location.hash = '';
  signIn();
});
onUnauthorized(() => {
  clearKey();
  signIn('The key was refused (revoked?). Sign in again.');
});
window.addEventListener('hashchange', route);

if (getKey()) {
  api('GET', '/status').then(start).catch((e) => {
    if (e.status !== 401) { toast(errorText(e), 'error'); signIn(); }
  });
} else {
  signIn();
}
