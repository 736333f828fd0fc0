// DOM helpers. Nothing here (or anywhere in the app) assigns innerHTML:
// strings become text nodes, so a person named "<img src=x onerror=...>"
// shows as those characters.

// el('div', {class: 'x', onclick: fn, dataset: {id: 1}}, 'text', child, ...)
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  append(e, children);
  return e;
}

function append(e, children) {
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(e, ...children) {
  e.replaceChildren();
  append(e, children);
  return e;
}

// A transient message at the bottom of the screen.
export function toast(msg, kind = 'info') {
  const box = document.getElementById('toasts');
  const t = el('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, msg);
  box.append(t);
  setTimeout(() => t.remove(), kind === 'error' ? 8000 : 4000);
}

export function errorText(e) {
  return e && e.message ? e.message : String(e);
}

// Makes target accept dropped image files (and clicks open a file picker).
// onFiles(files) gets the images only.
export function dropZone(target, onFiles, { multiple = true } = {}) {
  const input = el('input', { type: 'file', accept: 'image/*', multiple, hidden: true });
  input.addEventListener('change', () => {
    if (input.files.length) onFiles([...input.files]);
    input.value = '';
  });
  target.append(input);
  target.classList.add('dropzone');
  target.tabIndex = 0;
  target.addEventListener('click', (ev) => {
    if (ev.target.closest('button, a, input, select, img.thumb')) return;
    input.click();
  });
  target.addEventListener('keydown', (ev) => {
    if (ev.target === target && (ev.key === 'Enter' || ev.key === ' ')) {
      ev.preventDefault();
      input.click();
    }
  });
  target.addEventListener('dragover', (ev) => {
    ev.preventDefault();
    target.classList.add('over');
  });
  target.addEventListener('dragleave', () => target.classList.remove('over'));
  target.addEventListener('drop', (ev) => {
    ev.preventDefault();
    target.classList.remove('over');
    const files = [...(ev.dataTransfer ? ev.dataTransfer.files : [])].filter((f) => f.type.startsWith('image/') || !f.type);
    if (files.length) onFiles(multiple ? files : files.slice(0, 1));
  });
  return input;
}

export function fmt(n, digits = 1) {
  if (n === null || n === undefined || Number.isNaN(n)) return '–';
  if (Math.abs(n) >= 100 || Number.isInteger(n)) return Math.round(n).toLocaleString('en-US');
  return n.toFixed(digits);
}

export function bytes(n) {
  if (!n && n !== 0) return '–';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${u[i]}`;
}

// A horizontal bar: value against limit.
export function meter(label, value, limit, text) {
  const pct = limit > 0 ? Math.max(0, Math.min(100, (100 * value) / limit)) : 0;
  const bar = el('div', { class: 'meter-fill' });
  bar.style.width = `${pct}%`;
  if (pct >= 90) bar.classList.add('hot');
  return el('div', { class: 'meter' },
    el('div', { class: 'meter-label' }, el('span', {}, label), el('span', { class: 'meter-value' }, text)),
    el('div', { class: 'meter-track' }, bar));
}
