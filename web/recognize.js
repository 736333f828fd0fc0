// Recognize: a dropped photo with a box and a name (or "unknown") on each
// face; a click on a face enrolls it into a person, new or existing.
import { api, listAll } from './api.js';
import { el, clear, toast, errorText, dropZone } from './ui.js';

// A face's crop with this much of its box around it, so that the detector
// finds it again in the crop that is sent to enroll.
const MARGIN = 0.6;

export class Recognize {
  constructor(root) {
    this.root = root;
    this.url = null;
  }

  show() {
    this.status = el('p', { class: 'muted', 'aria-live': 'polite' });
    this.stage = el('div', { class: 'recognize-stage' });
    this.side = el('div', { class: 'recognize-side' });
    const drop = el('div', { class: 'drop', id: 'recognize-drop' }, el('strong', {}, 'Drop a photo here'),
      el('span', {}, ' — or click to choose. Each face gets a box and a name.'));
    dropZone(drop, (files) => this.run(files[0]), { multiple: false });
    clear(this.root, el('h1', {}, 'Recognize'), drop, this.status,
      el('div', { class: 'recognize' }, this.stage, this.side));
  }

  async run(file) {
    if (this.url) URL.revokeObjectURL(this.url);
    this.url = URL.createObjectURL(file);
    this.file = file;
    clear(this.stage);
    clear(this.side);
    this.status.textContent = `Recognizing ${file.name}…`;
    let r;
    try {
      r = await api('POST', '/v1/recognize', file);
    } catch (e) {
      this.status.textContent = '';
      toast(`${file.name}: ${errorText(e)}`, 'error');
      return;
    }
    const known = r.faces.filter((f) => !f.unknown).length;
    this.status.textContent = `${file.name}: ${r.faces.length} face${r.faces.length === 1 ? '' : 's'}, ` +
      `${known} recognized, ${r.faces.length - known} unknown. Click a face to enroll it.`;
    const img = el('img', { src: this.url, alt: file.name, class: 'photo', id: 'recognize-photo' });
    this.img = img;
    const frame = el('div', { class: 'photo-frame' }, img);
    r.faces.forEach((f, i) => {
      const [x, y, w, h] = f.box;
      const box = el('button', { type: 'button', class: `face-box ${f.unknown ? 'unknown' : 'known'}`,
        dataset: { index: i }, title: f.name, 'aria-label': `face ${i + 1}: ${f.name}` },
      el('span', { class: 'face-label' }, f.unknown ? 'unknown' : `${f.name} ${(100 * f.similarity).toFixed(0)}%`));
      box.style.left = `${(100 * x) / r.width}%`;
      box.style.top = `${(100 * y) / r.height}%`;
      box.style.width = `${(100 * w) / r.width}%`;
      box.style.height = `${(100 * h) / r.height}%`;
      box.addEventListener('click', () => this.pick(f, i, r));
      frame.append(box);
    });
    clear(this.stage, frame);
    const list = el('ol', { class: 'face-list', id: 'recognize-names' },
      r.faces.map((f) => el('li', {}, f.unknown ? 'unknown' : f.name,
        f.distance !== undefined ? el('span', { class: 'muted' }, ` distance ${f.distance.toFixed(3)}`) : null)));
    clear(this.side, el('h2', {}, 'Faces'), list);
  }

  async pick(face, i, r) {
    for (const b of this.stage.querySelectorAll('.face-box')) b.classList.toggle('picked', Number(b.dataset.index) === i);
    const seq = (this.seq = (this.seq || 0) + 1);
    let people = [];
    try { people = await listAll('/v1/people', 'people'); } catch (e) { toast(errorText(e), 'error'); }
    if (seq !== this.seq) return; // another face was clicked meanwhile
    const sel = el('select', { id: 'enroll-person', 'aria-label': 'Person' }, el('option', { value: '' }, 'New person…'),
      people.map((p) => el('option', { value: p.id, selected: p.id === face.person }, `${p.name} (#${p.id})`)));
    const name = el('input', { type: 'text', id: 'enroll-name', placeholder: 'Name of the new person', maxlength: 256,
      'aria-label': 'Name of the new person' });
    const sync = () => { name.hidden = !!sel.value; };
    sel.addEventListener('change', sync);
    sync();
    const form = el('form', { class: 'stack', id: 'enroll-form' }, el('h2', {}, `Enroll face ${i + 1}`), sel, name,
      el('button', { type: 'submit' }, 'Enroll'));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      try {
        let id = Number(sel.value);
        if (!id) {
          if (!name.value.trim()) { toast('Give the new person a name.', 'error'); return; }
          id = (await api('POST', '/v1/people', { name: name.value.trim() })).id;
        }
        await api('POST', `/v1/people/${id}/faces`, await this.crop(face.box, r));
        toast('Enrolled.');
        this.run(this.file);
      } catch (e) { toast(errorText(e), 'error'); }
    });
    const old = this.side.querySelector('#enroll-form');
    if (old) old.remove();
    this.side.append(form);
  }

  // The face with a margin, cut from the displayed photo (which the
  // browser already turned upright, as the server did) as a JPEG.
  crop(box, r) {
    const [x, y, w, h] = box;
    const sx = this.img.naturalWidth / r.width, sy = this.img.naturalHeight / r.height;
    const x0 = Math.max(0, (x - MARGIN * w) * sx), y0 = Math.max(0, (y - MARGIN * h) * sy);
    const x1 = Math.min(this.img.naturalWidth, (x + w + MARGIN * w) * sx);
    const y1 = Math.min(this.img.naturalHeight, (y + h + MARGIN * h) * sy);
    const c = document.createElement('canvas');
    c.width = Math.max(1, Math.round(x1 - x0));
    c.height = Math.max(1, Math.round(y1 - y0));
    c.getContext('2d').drawImage(this.img, x0, y0, x1 - x0, y1 - y0, 0, 0, c.width, c.height);
    return new Promise((ok, fail) => c.toBlob((b) => (b ? ok(b) : fail(new Error('cannot crop the face'))),
      'image/jpeg', 0.92));
  }
}
