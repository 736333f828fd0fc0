// A typed client for facerec's HTTP API. Every request and response type is
// taken from schema.d.ts, which openapi-typescript generates from
// docs/openapi.yaml (see README.md here), so a change of the spec that this
// client does not follow fails to compile. Runs on node >= 18 (global fetch)
// and in browsers.
import type { components, paths } from './schema';

export type Schemas = components['schemas'];
export type ErrorCode = Schemas['ErrorCode'];

type Method = 'get' | 'post' | 'patch' | 'delete';
type Op<P extends keyof paths, M extends Method> = paths[P][M];

/** The JSON body of operation (P, M)'s response with status S. */
export type JsonOf<P extends keyof paths, M extends Method, S extends number> =
  Op<P, M> extends { responses: infer R }
    ? S extends keyof R
      ? R[S] extends { content: { 'application/json': infer B } }
        ? B
        : never
      : never
    : never;

/** The query parameters of operation (P, M). */
export type QueryOf<P extends keyof paths, M extends Method> =
  Op<P, M> extends { parameters: { query?: infer Q } } ? NonNullable<Q> : never;

/** The JSON request body of operation (P, M). */
export type JsonBodyOf<P extends keyof paths, M extends Method> =
  Op<P, M> extends { requestBody?: { content: { 'application/json': infer B } } } ? B : never;

/** Image bytes, with their media type (default image/jpeg). */
export interface Image {
  data: Uint8Array;
  type?: string;
}

/** An error answer: `{"error":{"code","message"}}` with its HTTP status. */
export class FacerecError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
  ) {
    super(`HTTP ${status} ${code}: ${message}`);
    this.name = 'FacerecError';
  }
}

type Query = Record<string, string | number | boolean | undefined>;

interface Call {
  id?: number;
  query?: Query | undefined;
  json?: unknown;
  image?: Image;
}

function base64(data: Uint8Array): string {
  // Buffer on node; btoa in browsers.
  const B = (globalThis as { Buffer?: { from(d: Uint8Array): { toString(enc: string): string } } }).Buffer;
  if (B) return B.from(data).toString('base64');
  let s = '';
  for (const b of data) s += String.fromCharCode(b);
  return btoa(s);
}

export class FacerecClient {
  /** baseUrl like "http://127.0.0.1:5001"; apiKey from `facerec user add NAME`. */
  constructor(
    private readonly baseUrl: string,
    private readonly apiKey?: string,
  ) {}

  private async send(method: Method, path: keyof paths, c: Call): Promise<Response> {
    let url = this.baseUrl.replace(/\/$/, '') + String(path).replace('{id}', String(c.id ?? ''));
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(c.query ?? {})) if (v !== undefined) q.set(k, String(v));
    if ([...q].length) url += `?${q}`;
    const headers: Record<string, string> = {};
    if (this.apiKey) headers['X-API-Key'] = this.apiKey;
    let body: string | Uint8Array | undefined;
    if (c.image) {
      headers['Content-Type'] = c.image.type ?? 'image/jpeg';
      body = c.image.data;
    } else if (c.json !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(c.json);
    }
    const res = await fetch(url, { method: method.toUpperCase(), headers, ...(body !== undefined ? { body } : {}) });
    if (res.status >= 400) {
      const text = await res.text();
      let e: Partial<Schemas['ErrorBody']> = {};
      try {
        e = (JSON.parse(text) as Schemas['Error']).error;
      } catch {
        // not JSON: keep the text as the message
      }
      throw new FacerecError(res.status, e.code ?? 'internal', e.message ?? text);
    }
    return res;
  }

  private async json<P extends keyof paths, M extends Method, S extends number>(
    method: M,
    path: P,
    c: Call = {},
  ): Promise<JsonOf<P, M, S>> {
    const res = await this.send(method, path, c);
    return (await res.json()) as JsonOf<P, M, S>;
  }

  // ---- service --------------------------------------------------------------------
  healthz() {
    return this.json<'/healthz', 'get', 200>('get', '/healthz');
  }
  status() {
    return this.json<'/status', 'get', 200>('get', '/status');
  }

  // ---- faces --------------------------------------------------------------------------
  /** Faces of one or more images (one raw body, or base64 JSON for several). */
  detect(images: Image[], query?: QueryOf<'/v1/detect', 'post'>) {
    return this.json<'/v1/detect', 'post', 200>('post', '/v1/detect', this.images(images, query));
  }
  /** As detect, each face with its 128-d embedding. */
  embed(images: Image[], query?: QueryOf<'/v1/embed', 'post'>) {
    return this.json<'/v1/embed', 'post', 200>('post', '/v1/embed', this.images(images, query));
  }
  /** The largest face of a against that of b (or against an embedding). */
  verify(a: Image, b: Image | number[]) {
    const json: JsonBodyOf<'/v1/verify', 'post'> = Array.isArray(b)
      ? { image: base64(a.data), embedding: b }
      : { images: [base64(a.data), base64(b.data)] };
    return this.json<'/v1/verify', 'post', 200>('post', '/v1/verify', { json });
  }

  private images(images: Image[], query: Query | undefined): Call {
    if (images.length === 1) return { image: images[0]!, query };
    const json: JsonBodyOf<'/v1/detect', 'post'> = { images: images.map((i) => base64(i.data)) };
    return { json, query };
  }

  // ---- people ---------------------------------------------------------------------------
  addPerson(name: string) {
    const json: JsonBodyOf<'/v1/people', 'post'> = { name };
    return this.json<'/v1/people', 'post', 201>('post', '/v1/people', { json });
  }
  listPeople(query?: QueryOf<'/v1/people', 'get'>) {
    return this.json<'/v1/people', 'get', 200>('get', '/v1/people', { query });
  }
  getPerson(id: number) {
    return this.json<'/v1/people/{id}', 'get', 200>('get', '/v1/people/{id}', { id });
  }
  renamePerson(id: number, name: string) {
    const json: JsonBodyOf<'/v1/people/{id}', 'patch'> = { name };
    return this.json<'/v1/people/{id}', 'patch', 200>('patch', '/v1/people/{id}', { id, json });
  }
  deletePerson(id: number) {
    return this.json<'/v1/people/{id}', 'delete', 200>('delete', '/v1/people/{id}', { id });
  }
  /** The largest face of image (every face with {all: '1'}) into person id. */
  enroll(id: number, image: Image, query?: QueryOf<'/v1/people/{id}/faces', 'post'>) {
    return this.json<'/v1/people/{id}/faces', 'post', 201>('post', '/v1/people/{id}/faces', { id, image, query });
  }
  personFaces(id: number, query?: QueryOf<'/v1/people/{id}/faces', 'get'>) {
    return this.json<'/v1/people/{id}/faces', 'get', 200>('get', '/v1/people/{id}/faces', { id, query });
  }
  merge(id: number, from: number) {
    const json: JsonBodyOf<'/v1/people/{id}/merge', 'post'> = { from };
    return this.json<'/v1/people/{id}/merge', 'post', 200>('post', '/v1/people/{id}/merge', { id, json });
  }
  deleteFace(id: number) {
    return this.json<'/v1/faces/{id}', 'delete', 200>('delete', '/v1/faces/{id}', { id });
  }
  /** A face's JPEG thumbnail. */
  async thumbnail(id: number): Promise<Uint8Array> {
    const res = await this.send('get', '/v1/faces/{id}/thumbnail', { id });
    return new Uint8Array(await res.arrayBuffer());
  }
  /** Names the faces of image from the caller's gallery. */
  recognize(image: Image, query?: QueryOf<'/v1/recognize', 'post'>) {
    return this.json<'/v1/recognize', 'post', 200>('post', '/v1/recognize', { image, query });
  }
  /** Adds image's faces unassigned (200 and skipped: true when seen before). */
  index(image: Image, query?: QueryOf<'/v1/index', 'post'>) {
    return this.json<'/v1/index', 'post', 200 | 201>('post', '/v1/index', { image, query });
  }
  cluster(params: JsonBodyOf<'/v1/cluster', 'post'> = {}) {
    return this.json<'/v1/cluster', 'post', 200>('post', '/v1/cluster', { json: params });
  }
  jobs(query?: QueryOf<'/v1/jobs', 'get'>) {
    return this.json<'/v1/jobs', 'get', 200>('get', '/v1/jobs', { query });
  }
}
