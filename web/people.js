// People: the grid of people with a face each and their counts, one
// person's faces (rename, merge, delete, move a face), the unassigned faces
// with "group into people", and photos dropped to enroll or to index.
import { api, listAll, thumbnailURL, forgetThumbnails } from './api.js';
import { el, clear, toast, errorText, dropZone, fmt } from './ui.js';

function thumb(faceId, alt) {
  const img = el('img', { class: 'thumb', alt, width: 96, height: 96, loading: 'lazy' });
  if (faceId) thumbnailURL(faceId).then((u) => { if (u) img.src = u; else img.classList.add('missing'); });
  else img.classList.add('missing');
  return img;
}

// Runs fn over items with at most n at a time.
async function pool(items, n, fn) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
}

// Sends each file to url (one image a request), reporting progress in
// the element status. Returns the answers that succeeded.
async function upload(files, url, status) {
  const done = [];
  let failed = 0;
  await pool(files, 2, async (f, i) => {
    status.textContent = `Uploading ${i + 1} of ${files.length}…`;
    try {
      done.push(await api('POST', url(f), f));
    } catch (e) {
      failed++;
      toast(`${f.name}: ${errorText(e)}`, 'error');
    }
  });
  status.textContent = `${done.length} of ${files.length} photos processed${failed ? `, ${failed} failed` : ''}.`;
  return done;
}

function personOptions(people, exclude, first) {
  return [el('option', { value: '' }, first),
    ...people.filter((p) => p.id !== exclude).map((p) => el('option', { value: p.id }, `${p.name} (#${p.id})`))];
}

export class People {
  constructor(root, go) {
    this.root = root;
    this.go = go; // navigates: go('#/people/3')
  }

  async showList() {
    const status = el('p', { class: 'muted', 'aria-live': 'polite' });
    const name = el('input', { type: 'text', name: 'name', placeholder: 'New person’s name', maxlength: 256,
      required: true, 'aria-label': 'New person’s name' });
    const add = el('form', { class: 'inline', id: 'add-person' }, name, el('button', { type: 'submit' }, 'Add person'));
    add.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      try {
        const p = await api('POST', '/v1/people', { name: name.value });
        this.go(`#/people/${p.id}`);
      } catch (e) { toast(errorText(e), 'error'); }
    });
    const drop = el('div', { class: 'drop', id: 'index-drop' },
      el('strong', {}, 'Drop photos here to index them'),
      el('span', {}, ' — or click to choose. Their faces go to “Unassigned”; then group them into people.'));
    dropZone(drop, async (files) => {
      const r = await upload(files, (f) => `/v1/index?name=${encodeURIComponent(f.name)}`, status);
      const faces = r.reduce((n, x) => n + (x.skipped ? 0 : x.faces.length), 0);
      toast(`Indexed ${r.length} photos, ${faces} new faces.`);
      this.showList();
    });
    const grid = el('div', { class: 'grid', id: 'people-grid' }, el('p', { class: 'muted' }, 'Loading…'));
    const unassigned = el('div', { class: 'grid faces', id: 'unassigned-grid' });
    const cluster = el('button', { type: 'button', id: 'cluster' }, 'Group into people');
    cluster.addEventListener('click', async () => {
      cluster.disabled = true;
      try {
        const r = await api('POST', '/v1/cluster', {});
        toast(`${r.people_created} new people, ${r.joined} faces joined people, ${r.left} still unassigned.`);
        this.showList();
      } catch (e) { toast(errorText(e), 'error'); } finally { cluster.disabled = false; }
    });
    clear(this.root, el('h1', {}, 'People'), el('div', { class: 'toolbar' }, add), drop, status, grid,
      el('div', { class: 'section-head' }, el('h2', {}, 'Unassigned faces'), cluster), unassigned);

    let people, faces;
    try {
      [people, faces] = await Promise.all([listAll('/v1/people', 'people'), listAll('/v1/faces/unassigned', 'faces', 500)]);
    } catch (e) {
      clear(grid, el('p', { class: 'error' }, errorText(e)));
      return;
    }
    const cards = people.map((p) => {
      const img = el('div', { class: 'thumb-box' });
      const card = el('a', { class: 'card person', href: `#/people/${p.id}`, dataset: { id: p.id } }, img,
        el('div', { class: 'card-name' }, p.name),
        el('div', { class: 'card-count' }, `${fmt(p.faces)} face${p.faces === 1 ? '' : 's'}`));
      card.img = img;
      card.person = p;
      return card;
    });
    clear(grid, cards.length ? cards : el('p', { class: 'muted' }, 'No people yet: add one, or drop photos above.'));
    // One face per card; a few requests at a time.
    pool(cards, 4, async (card) => {
      if (!card.person.faces) {
        card.img.append(thumb(0, ''));
        return;
      }
      try {
        const f = await api('GET', `/v1/people/${card.person.id}/faces?limit=1`);
        card.img.append(thumb(f.faces.length ? f.faces[0].id : 0, card.person.name));
      } catch { card.img.append(thumb(0, '')); }
    });
    clear(unassigned, faces.length ? faces.map((f) => this.faceCard(f, people, () => this.showList()))
      : el('p', { class: 'muted' }, 'None.'));
    cluster.disabled = !faces.length;
  }

  // A face with its actions: move to another person (or back to
  // unassigned), delete.
  faceCard(f, people, refresh) {
    const move = el('select', { 'aria-label': 'Move to', class: 'move' },
      ...personOptions(people, f.person, 'Move to…'),
      f.person ? el('option', { value: '0' }, 'Unassigned') : null);
    move.addEventListener('change', async () => {
      if (!move.value) return;
      const to = Number(move.value);
      try {
        await api('PATCH', `/v1/faces/${f.id}`, { person: to || null });
        toast(`Face ${f.id} moved.`);
        refresh();
      } catch (e) { toast(errorText(e), 'error'); move.value = ''; }
    });
    const del = el('button', { type: 'button', class: 'danger small', title: 'Delete this face' }, 'Delete');
    del.addEventListener('click', async () => {
      if (!confirm(`Delete face ${f.id}?`)) return;
      try {
        await api('DELETE', `/v1/faces/${f.id}`);
        refresh();
      } catch (e) { toast(errorText(e), 'error'); }
    });
    return el('div', { class: 'card face', dataset: { id: f.id } }, thumb(f.id, `face ${f.id}`),
      el('div', { class: 'card-count' }, `#${f.id} · score ${f.score.toFixed(2)}`), move, del);
  }

  async showPerson(id) {
    clear(this.root, el('p', { class: 'muted' }, 'Loading…'));
    let p, faces, people;
    try {
      [p, faces, people] = await Promise.all([api('GET', `/v1/people/${id}`),
        listAll(`/v1/people/${id}/faces`, 'faces', 1000), listAll('/v1/people', 'people')]);
    } catch (e) {
      clear(this.root, el('p', { class: 'error' }, errorText(e)), el('a', { href: '#/people' }, 'Back to people'));
      return;
    }
    const refresh = () => this.showPerson(id);
    const title = el('h1', { id: 'person-name' }, p.name);
    const name = el('input', { type: 'text', name: 'name', value: p.name, maxlength: 256, required: true,
      'aria-label': 'Name' });
    const rename = el('form', { class: 'inline', id: 'rename' }, name, el('button', { type: 'submit' }, 'Rename'));
    rename.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      try {
        const q = await api('PATCH', `/v1/people/${id}`, { name: name.value });
        title.textContent = q.name;
        toast('Renamed.');
      } catch (e) { toast(errorText(e), 'error'); }
    });
    const from = el('select', { id: 'merge-from', 'aria-label': 'Merge another person into this one' },
      ...personOptions(people, p.id, 'Merge into this person…'));
    const merge = el('button', { type: 'button', id: 'merge' }, 'Merge');
    merge.addEventListener('click', async () => {
      if (!from.value) return;
      try {
        await api('POST', `/v1/people/${id}/merge`, { from: Number(from.value) });
        toast('Merged.');
        refresh();
      } catch (e) { toast(errorText(e), 'error'); }
    });
    const del = el('button', { type: 'button', class: 'danger', id: 'delete-person' }, 'Delete person');
    del.addEventListener('click', async () => {
      if (!confirm(`Delete ${p.name} and ${p.faces} faces?`)) return;
      try {
        await api('DELETE', `/v1/people/${id}`);
        forgetThumbnails();
        this.go('#/people');
      } catch (e) { toast(errorText(e), 'error'); }
    });
    const status = el('p', { class: 'muted', 'aria-live': 'polite' });
    const drop = el('div', { class: 'drop', id: 'enroll-drop' }, el('strong', {}, 'Drop photos of this person here'),
      el('span', {}, ' — or click to choose. The largest face of each photo is enrolled.'));
    dropZone(drop, async (files) => {
      const r = await upload(files, () => `/v1/people/${id}/faces`, status);
      if (r.length) toast(`Enrolled ${r.length} faces.`);
      refresh();
    });
    const grid = el('div', { class: 'grid faces', id: 'person-faces' },
      faces.length ? faces.map((f) => this.faceCard(f, people, refresh)) : el('p', { class: 'muted' }, 'No faces yet.'));
    clear(this.root, el('a', { href: '#/people', class: 'back' }, '← People'), title,
      el('p', { class: 'muted', id: 'person-count' }, `${fmt(p.faces)} face${p.faces === 1 ? '' : 's'} · person #${p.id}`),
      el('div', { class: 'toolbar' }, rename, el('div', { class: 'inline' }, from, merge), del),
      drop, status, grid);
  }
}
