// The API client: the key lives in sessionStorage (gone when the tab closes),
// travels only in the X-API-Key header, never in a URL.
const KEY = 'facerec.key';

export function getKey() { return sessionStorage.getItem(KEY) || ''; }
export function setKey(k) { sessionStorage.setItem(KEY, k); }
export function clearKey() { sessionStorage.removeItem(KEY); }

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// Listeners told when a request answers 401 (the key was revoked).
const unauthorized = [];
export function onUnauthorized(fn) { unauthorized.push(fn); }

// fetch with the key; JSON in and out. body: an object (sent as JSON), a
// Blob/File (sent raw with its type), or undefined.
export async function api(method, path, body, opts = {}) {
  const headers = { 'X-API-Key': opts.key !== undefined ? opts.key : getKey() };
  let payload;
  if (body instanceof Blob) {
    payload = body;
    headers['Content-Type'] = body.type || 'application/octet-stream';
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    headers['Content-Type'] = 'application/json';
  }
  let r;
  try {
    r = await fetch(path, { method, headers, body: payload, cache: 'no-store', signal: opts.signal });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', 'the server cannot be reached');
  }
  if (opts.blob && r.ok) return r.blob();
  if (opts.text && r.ok) return r.text();
  let doc = null;
  const text = await r.text();
  try { doc = text ? JSON.parse(text) : null; } catch { doc = null; }
  if (!r.ok) {
    const err = doc && doc.error ? doc.error : { code: 'http_' + r.status, message: text || r.statusText };
    if (r.status === 401 && opts.key === undefined) unauthorized.forEach((fn) => fn());
    throw new ApiError(r.status, err.code, err.message);
  }
  return doc;
}

// Face thumbnails need the key, which an <img> cannot send: fetch them as
// blobs and show object URLs, cached per face id for the page's lifetime.
const thumbs = new Map();
export function thumbnailURL(faceId) {
  if (!thumbs.has(faceId)) {
    const p = api('GET', `/v1/faces/${faceId}/thumbnail`, undefined, { blob: true })
      .then((b) => URL.createObjectURL(b))
      .catch(() => '');
    thumbs.set(faceId, p);
  }
  return thumbs.get(faceId);
}
export function forgetThumbnails() {
  for (const p of thumbs.values()) p.then((u) => u && URL.revokeObjectURL(u));
  thumbs.clear();
}

// Every page of a paged list (people, faces), up to max rows.
export async function listAll(path, key, max = 2000) {
  const out = [];
  let after = 0;
  for (;;) {
    const sep = path.includes('?') ? '&' : '?';
    const doc = await api('GET', `${path}${sep}limit=1000&after=${after}`);
    out.push(...doc[key]);
    if (doc.next_after == null || out.length >= max) return out;
    after = doc.next_after;
  }
}
