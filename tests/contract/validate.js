'use strict';
// Validates the contract logs of the HTTP tests (tests/contract-log.h: one
// JSON line per exchange) against docs/openapi.yaml with ajv (JSON Schema
// 2020-12, the dialect of OpenAPI 3.1):
//   - the path and method are an operation of the spec (else the answer must
//     be the server's 404 `not_found` or 405 `method_not_allowed` error);
//   - the status is one the operation declares, with a declared Content-Type,
//     and a JSON body valid against that response's schema (headers too:
//     Retry-After on 429, Allow on 405, where the client recorded them);
//   - for a request the server accepted (2xx): its Content-Type is one the
//     operation declares, its JSON body is valid against the request schema,
//     and each query argument is a declared parameter with a valid value.
// Then coverage: each operation's statuses seen; an operation of which no
// test received a success (2xx) answer fails the run (with --require-all)
// unless it is listed in tests/contract/unexercised.txt with a reason.
//
// Usage: node validate.js [--spec SPEC.yaml] [--require-all] LOG.jsonl|DIR...
const fs = require('fs');
const path = require('path');
const Ajv2020 = require('ajv/dist/2020').default;
const addFormats = require('ajv-formats').default;
const { DEFAULT_SPEC, loadSpec, operations } = require('./spec');

const SCHEMA_ID = 'facerec-openapi';
const MAX_FAILURES_SHOWN = 40;

function parseArgs(argv) {
  const a = { spec: DEFAULT_SPEC, requireAll: false, logs: [] };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--spec') a.spec = argv[++i];
    else if (argv[i] === '--require-all') a.requireAll = true;
    else a.logs.push(argv[i]);
  }
  return a;
}

// Every "#/components/schemas/X" becomes a reference into one ajv schema
// that holds the components as $defs; other components (responses,
// parameters, request bodies, headers) are resolved here in JS.
function rewriteRefs(x) {
  if (Array.isArray(x)) return x.map(rewriteRefs);
  if (x && typeof x === 'object') {
    const o = {};
    for (const [k, v] of Object.entries(x)) {
      o[k] = k === '$ref' && typeof v === 'string' && v.startsWith('#/components/schemas/')
        ? `${SCHEMA_ID}#/$defs/${v.slice('#/components/schemas/'.length)}`
        : rewriteRefs(v);
    }
    return o;
  }
  return x;
}

function deref(spec, x) {
  for (let i = 0; x && x.$ref && i < 16; i++) {
    const parts = x.$ref.replace(/^#\//, '').split('/').map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
    x = parts.reduce((o, p) => (o ? o[p] : undefined), spec);
  }
  return x;
}

function makeAjv(spec) {
  // strict: typos in keywords are errors; strictTypes/strictRequired are off
  // because `oneOf: [{required: [...]}]` next to `properties` is how the spec
  // says "one of these keys", which they would flag.
  const ajv = new Ajv2020({ allErrors: true, strict: true, strictTypes: false, strictRequired: false });
  addFormats(ajv);
  ajv.addFormat('binary', true); // OpenAPI's file bytes: not JSON, nothing to check
  ajv.addVocabulary(['example', 'xml', 'externalDocs', 'discriminator']);
  ajv.addSchema({ $id: SCHEMA_ID, $defs: rewriteRefs((spec.components || {}).schemas || {}) });
  const cache = new Map();
  return (schema) => {
    const key = JSON.stringify(schema);
    if (!cache.has(key)) cache.set(key, ajv.compile(rewriteRefs(schema)));
    return cache.get(key);
  };
}

// A path template as a matcher: "/v1/people/{id}" -> params or null.
function templateMatcher(tpl) {
  const names = [];
  const re = new RegExp('^' + tpl.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{([^}]+)\}/g, (_, n) => {
    names.push(n);
    return '([^/]+)';
  }) + '$');
  return (p) => {
    const m = re.exec(p);
    if (!m) return null;
    const params = {};
    names.forEach((n, i) => { params[n] = decodeURIComponent(m[i + 1]); });
    return params;
  };
}

// A query or path argument's text as its schema's type, for validation.
function coerce(text, schema) {
  const t = schema && schema.type;
  if ((t === 'integer' || t === 'number') && /^-?[0-9]+(\.[0-9]+)?$/.test(text)) return Number(text);
  if (t === 'boolean' && (text === 'true' || text === 'false')) return text === 'true';
  return text;
}

// "type/subtype" of a Content-Type, lower case, without parameters.
function baseType(ct) {
  return (ct || '').split(';')[0].trim().toLowerCase();
}

// The key of a content map that a Content-Type matches: exact (parameters
// too), else the same base type, else a wildcard like image/*.
function contentKey(content, ct) {
  if (!content || !ct) return null;
  const keys = Object.keys(content);
  const norm = (s) => s.toLowerCase().replace(/\s+/g, '');
  const exact = keys.find((k) => norm(k) === norm(ct));
  if (exact) return exact;
  const b = baseType(ct);
  const same = keys.find((k) => baseType(k) === b);
  if (same) return same;
  return keys.find((k) => k.endsWith('/*') && b.startsWith(k.slice(0, -1))) || null;
}

function isJson(ct) {
  const b = baseType(ct);
  return b === 'application/json' || b.endsWith('+json');
}

function ajvErrors(v) {
  return (v.errors || []).slice(0, 8).map((e) => `${e.instancePath || '/'} ${e.message}${
    e.params && e.params.additionalProperty ? ` (${e.params.additionalProperty})` : ''}${
    e.params && e.params.allowedValues ? ` (${e.params.allowedValues.join(', ')})` : ''}`).join('; ');
}

function excerpt(s, n = 300) {
  if (s === undefined) return '';
  return s.length > n ? `${s.slice(0, n)}... (${s.length} bytes)` : s;
}

function readLogs(inputs) {
  const files = [];
  for (const x of inputs) {
    if (fs.existsSync(x) && fs.statSync(x).isDirectory()) {
      for (const f of fs.readdirSync(x).sort()) if (f.endsWith('.jsonl')) files.push(path.join(x, f));
    } else files.push(x);
  }
  const records = [];
  for (const f of files) {
    const lines = fs.readFileSync(f, 'utf8').split('\n');
    lines.forEach((line, i) => {
      if (!line.trim()) return;
      let r;
      try {
        r = JSON.parse(line);
      } catch (e) {
        throw new Error(`${f}:${i + 1}: not JSON: ${e.message}`);
      }
      r.where = `${path.basename(f)}:${i + 1}`;
      records.push(r);
    });
  }
  return { files, records };
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  const spec = loadSpec(args.spec);
  const compile = makeAjv(spec);
  const ops = operations(spec).map((o) => ({ ...o, match: templateMatcher(o.path), seen: new Map() }));
  const errorSchema = { $ref: '#/components/schemas/Error' };
  const { files, records } = readLogs(args.logs);
  if (!records.length) {
    console.error(`validate: no exchanges in ${args.logs.join(' ') || '(no logs given)'}; did the HTTP tests run?`);
    process.exit(1);
  }
  const failures = [];
  const failed = new Set();
  const fail = (r, msg) => {
    failed.add(r.where);
    failures.push(`${r.where}: ${r.method} ${r.path} -> ${r.status}: ${msg}`);
  };

  const checkBody = (r, schema, what) => {
    if (r.method === 'HEAD') return; // no body to check
    if (r.body === undefined) return fail(r, `${what}: the log has no body to check`);
    let doc;
    try {
      doc = JSON.parse(r.body);
    } catch (e) {
      return fail(r, `${what}: the body is not JSON: ${excerpt(r.body)}`);
    }
    const v = compile(schema);
    if (!v(doc)) fail(r, `${what}: ${ajvErrors(v)}; body: ${excerpt(r.body)}`);
  };
  const checkError = (r, code) => {
    if (!isJson(r.ctype)) return fail(r, `expected a JSON error, Content-Type ${r.ctype}`);
    checkBody(r, errorSchema, 'error');
    if (r.method !== 'HEAD' && r.body) {
      const got = (JSON.parse(r.body).error || {}).code;
      if (got !== code) fail(r, `expected error code ${code}, got ${got}`);
    }
  };

  let unrouted = 0;
  for (const r of records) {
    const [rawPath, query = ''] = r.path.split('?');
    const candidates = [];
    for (const o of ops) {
      const params = o.match(rawPath);
      if (!params) continue;
      // Path parameters must satisfy their schemas, as the server's route
      // matcher does ("{id}" is a positive integer).
      const decl = [...(o.item.parameters || []), ...(o.op.parameters || [])].map((p) => deref(spec, p));
      const ok = Object.entries(params).every(([n, val]) => {
        const p = decl.find((d) => d.in === 'path' && d.name === n);
        return p && compile(p.schema || {})(coerce(val, p.schema));
      });
      if (ok) candidates.push(o);
    }
    const method = r.method === 'HEAD' ? 'GET' : r.method;
    const o = candidates.find((c) => c.method === method);
    if (!o) {
      unrouted++;
      if (!candidates.length) {
        if (r.status !== 404) fail(r, 'no operation in the spec has this path, and the answer is not 404');
        else checkError(r, 'not_found');
      } else {
        if (r.status !== 405) fail(r, `the spec has no ${method} for this path, and the answer is not 405`);
        else {
          checkError(r, 'method_not_allowed');
          const allow = r.headers && r.headers.allow;
          if (r.headers && !allow) fail(r, '405 without an Allow header');
          const want = candidates.map((c) => c.method);
          if (allow && !want.every((m) => allow.split(/,\s*/).includes(m))) {
            fail(r, `Allow: ${allow}, the spec's methods: ${want.join(', ')}`);
          }
        }
      }
      continue;
    }
    const statuses = o.seen.get(r.status) || 0;
    o.seen.set(r.status, statuses + 1);
    const responses = o.op.responses || {};
    const resp = deref(spec, responses[String(r.status)] || responses[`${String(r.status)[0]}XX`] || responses.default);
    if (!resp) {
      fail(r, `status ${r.status} is not declared (declared: ${Object.keys(responses).join(', ')}); body: ${excerpt(r.body)}`);
      continue;
    }
    if (resp.content) {
      const key = contentKey(resp.content, r.ctype);
      if (!key) {
        fail(r, `Content-Type ${r.ctype || '(none)'} is not declared (${Object.keys(resp.content).join(', ')})`);
      } else if (isJson(key)) {
        checkBody(r, resp.content[key].schema || {}, 'response');
      } else if (r.method !== 'HEAD' && !(r.len > 0)) {
        fail(r, `an empty ${key} body`);
      } else if (baseType(key) === 'image/jpeg' && r.head && !r.head.startsWith('ffd8')) {
        fail(r, `image/jpeg that does not start like a JPEG (${r.head})`);
      }
    } else if (r.len > 0 && r.method !== 'HEAD') {
      fail(r, 'a body where the spec declares none');
    }
    for (const [name, h] of Object.entries(resp.headers || {})) {
      const got = r.headers && r.headers[name.toLowerCase()];
      if (!r.headers) continue; // this client does not record headers
      const hd = deref(spec, h);
      if (got === undefined) fail(r, `header ${name} missing`);
      else if (!compile(hd.schema || {})(coerce(got, hd.schema))) fail(r, `header ${name}: ${got} does not match its schema`);
    }

    // The request side, for what the server accepted.
    if (r.status < 200 || r.status >= 300) continue;
    const decl = [...(o.item.parameters || []), ...(o.op.parameters || [])].map((p) => deref(spec, p));
    for (const [n, val] of new URLSearchParams(query)) {
      const p = decl.find((d) => d.in === 'query' && d.name === n);
      if (!p) fail(r, `the server accepted query argument "${n}", which the spec does not declare`);
      else if (!compile(p.schema || {})(coerce(val, p.schema))) fail(r, `query argument ${n}=${val} does not match its schema`);
    }
    const rb = deref(spec, o.op.requestBody);
    if (r.req_ctype) {
      const key = rb && contentKey(rb.content, r.req_ctype);
      if (!key) {
        fail(r, `the server accepted a ${r.req_ctype} body, which the spec does not declare`);
      } else if (isJson(key) && r.req_body !== undefined) {
        let doc;
        try {
          doc = JSON.parse(r.req_body);
        } catch (e) {
          fail(r, 'the server accepted a request body that is not JSON');
          continue;
        }
        const v = compile(rb.content[key].schema || {});
        if (!v(doc)) fail(r, `the server accepted a request body the spec refuses: ${ajvErrors(v)}; body: ${excerpt(r.req_body)}`);
      }
    } else if (rb && rb.required && !(r.req_len > 0)) {
      fail(r, 'the server accepted a request without the body the spec requires');
    }
  }

  // Coverage.
  let allowed = new Map();
  const allowFile = path.join(__dirname, 'unexercised.txt');
  if (fs.existsSync(allowFile)) {
    for (const line of fs.readFileSync(allowFile, 'utf8').split('\n')) {
      const m = /^\s*([A-Z]+)\s+(\S+)\s+(.+)$/.exec(line);
      if (m && !line.trim().startsWith('#')) allowed.set(`${m[1]} ${m[2]}`, m[3]);
    }
  }
  console.log(`validate: ${records.length} exchanges from ${files.length} logs (${unrouted} to unknown paths or methods)`);
  const unexercised = [];
  for (const o of ops) {
    const seen = [...o.seen.entries()].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}x${n}`).join(' ');
    console.log(`  ${o.method.padEnd(6)} ${o.path.padEnd(28)} ${seen || '-'}`);
    // Exercised: at least one success answer was checked against its schema.
    if (![...o.seen.keys()].some((st) => st >= 200 && st < 300)) {
      unexercised.push({ key: `${o.method} ${o.path}`, why: o.seen.size ? 'no logged test got a success answer of' : 'no logged test calls' });
    }
  }
  let bad = failures.length;
  for (const u of unexercised) {
    if (allowed.has(u.key)) console.log(`note: ${u.key} is not exercised by the tests: ${allowed.get(u.key)}`);
    else if (args.requireAll) {
      console.log(`FAIL: ${u.why} ${u.key} (test it, or list it in tests/contract/unexercised.txt with why)`);
      bad++;
    } else console.log(`warning: ${u.why} ${u.key}`);
  }
  for (const f of failures.slice(0, MAX_FAILURES_SHOWN)) console.log(`FAIL: ${f}`);
  if (failures.length > MAX_FAILURES_SHOWN) console.log(`... and ${failures.length - MAX_FAILURES_SHOWN} more`);
  console.log(`validate: exchanges: ${records.length - failed.size} passed, ${failed.size} failed`);
  process.exit(bad ? 1 : 0);
}

try {
  main();
} catch (e) {
  console.error(`validate: ${e.stack || e}`);
  process.exit(1);
}
