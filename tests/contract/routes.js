'use strict';
// The route agreement: the operations of docs/openapi.yaml, the server's
// route table (`facerec serve --print-routes`) and the endpoint tables of
// README.md must list the same METHOD PATH pairs, and the spec's security
// must say what the table says about keys. Each difference is named with
// the place to fix it.
// Usage: node routes.js FACEREC_BINARY [SPEC.yaml] [README.md]
const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');
const { ROOT, DEFAULT_SPEC, loadSpec, operations } = require('./spec');

const METHOD = /^(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS)\b\s*(\/\S*)?/;

// README: the rows of every table whose first header cell is "endpoint".
// A cell names routes in code spans: "`GET /healthz`, `GET /readyz`";
// "`GET`, `PATCH {"name"}`, `DELETE /v1/people/{id}`" (methods without a path
// take the next path in the cell); "`GET /v1/people?after=ID`" (the query is
// not part of the route).
function readmeRoutes(file) {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const routes = [];
  let inTable = false;
  lines.forEach((line, i) => {
    if (!line.startsWith('|')) {
      inTable = false;
      return;
    }
    const first = line.split('|')[1].trim();
    if (!inTable) {
      inTable = first === 'endpoint';
      return;
    }
    if (/^-+$/.test(first.replace(/[: ]/g, ''))) return;
    const pending = [];
    for (const m of first.matchAll(/`([^`]+)`/g)) {
      const x = METHOD.exec(m[1].trim());
      if (!x) continue;
      if (!x[2]) {
        pending.push(x[1]);
        continue;
      }
      const p = x[2].split('?')[0];
      for (const meth of [...pending, x[1]]) routes.push({ key: `${meth} ${p}`, where: `${path.basename(file)}:${i + 1}` });
      pending.length = 0;
    }
  });
  return routes;
}

function serverRoutes(bin) {
  const out = execFileSync(bin, ['serve', '--print-routes'], { encoding: 'utf8' });
  return out.trim().split('\n').map((l) => {
    const [method, p, auth] = l.trim().split(/\s+/);
    return { key: `${method} ${p}`, auth };
  });
}

// What the spec's security says about the X-API-Key: none, optional, key.
function specAuth(spec, op) {
  const sec = op.security !== undefined ? op.security : spec.security || [];
  const anon = sec.length === 0 || sec.some((s) => Object.keys(s).length === 0);
  const key = sec.some((s) => Object.keys(s).includes('ApiKey'));
  return !key ? 'none' : anon ? 'optional' : 'key';
}

function main() {
  const [bin, specFile = DEFAULT_SPEC, readme = path.join(ROOT, 'README.md')] = process.argv.slice(2);
  if (!bin) {
    console.error('usage: node routes.js FACEREC_BINARY [SPEC.yaml] [README.md]');
    process.exit(2);
  }
  const spec = loadSpec(specFile);
  const server = serverRoutes(bin);
  const ops = operations(spec).map((o) => ({ key: `${o.method} ${o.path}`, auth: specAuth(spec, o.op) }));
  const docs = readmeRoutes(readme);
  const problems = [];
  const keys = (xs) => new Set(xs.map((x) => x.key));
  const S = keys(server), O = keys(ops), D = keys(docs);
  for (const r of server) {
    if (!O.has(r.key)) problems.push(`${r.key}: in the server's route table (src/http/server.c) but not in docs/openapi.yaml`);
    if (!D.has(r.key)) problems.push(`${r.key}: in the server's route table but in no endpoint table of README.md`);
  }
  for (const o of ops) {
    if (!S.has(o.key)) problems.push(`${o.key}: in docs/openapi.yaml but not in the server's route table`);
    const r = server.find((x) => x.key === o.key);
    if (r && r.auth !== o.auth) {
      problems.push(`${o.key}: the server's key rule is "${r.auth}", the spec's security says "${o.auth}"`);
    }
  }
  for (const d of docs) if (!S.has(d.key)) problems.push(`${d.key} (${d.where}): in README.md but not in the server's route table`);
  const dups = server.map((r) => r.key).filter((k, i, a) => a.indexOf(k) !== i);
  for (const k of dups) problems.push(`${k}: twice in the server's route table`);
  console.log(`routes: server ${S.size}, docs/openapi.yaml ${O.size}, README.md ${D.size}`);
  for (const p of problems) console.log(`FAIL: ${p}`);
  console.log(problems.length ? `routes: ${problems.length} differences` : 'routes: the three lists agree');
  process.exit(problems.length ? 1 : 0);
}

try {
  main();
} catch (e) {
  console.error(`routes: ${e.stack || e}`);
  process.exit(1);
}
