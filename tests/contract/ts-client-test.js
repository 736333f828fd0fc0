'use strict';
// The typed TypeScript client (examples/ts-client) against a real server:
//   1. its schema.d.ts is what openapi-typescript makes of docs/openapi.yaml
//      today (else: regenerate it, the command is printed);
//   2. it compiles with tsc (strict);
//   3. `facerec serve` on port 0 with a data directory of its own and a key
//      from `facerec user add` serves docs/openapi.yaml as it is now at
//      /openapi.json; the compiled example detects, enrolls two
//      people, lists them, recognizes, verifies, fetches a thumbnail and
//      catches a typed 404, and its summary is checked here.
// Usage: node ts-client-test.js FACEREC_BINARY OUT_DIR
const { execFileSync, spawn } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { ROOT, loadSpec } = require('./spec');

const BIN = path.join(__dirname, 'node_modules', '.bin');
const EXAMPLE = path.join(ROOT, 'examples', 'ts-client');
let failures = 0;

function check(ok, what) {
  console.log(`${ok ? 'ok' : 'FAIL'}: ${what}`);
  if (!ok) failures++;
}

function run(cmd, args, opts = {}) {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], ...opts });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Starts `facerec serve` and resolves with its port once /readyz is 200.
async function startServer(bin, data, models, log) {
  const err = fs.openSync(log, 'w');
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('FACEREC_')) delete env[k];
  const child = spawn(bin, ['serve', '--listen', '127.0.0.1:0', '--data', data, '--models', models,
    '--no-warmup', '--log-level', 'warn'], { stdio: ['ignore', 'ignore', err], env });
  let exited = null;
  child.on('exit', (code, sig) => { exited = code ?? sig; });
  const t0 = Date.now();
  let port = 0;
  while (Date.now() - t0 < 120000) {
    if (exited !== null) throw new Error(`facerec serve exited (${exited}):\n${fs.readFileSync(log, 'utf8')}`);
    const m = /\(port (\d+)\)/.exec(fs.readFileSync(log, 'utf8'));
    if (m) port = Number(m[1]);
    if (port) {
      try {
        const r = await fetch(`http://127.0.0.1:${port}/readyz`);
        if (r.status === 200) return { child, port, exited: () => exited };
      } catch {
        // not listening yet
      }
    }
    await sleep(50);
  }
  child.kill('SIGKILL');
  throw new Error('facerec serve not ready after 120 s');
}

async function stopServer(s) {
  s.child.kill('SIGTERM');
  for (let i = 0; i < 600 && s.exited() === null; i++) await sleep(100);
  if (s.exited() === null) s.child.kill('SIGKILL');
  return s.exited();
}

async function main() {
  const [bin, out] = process.argv.slice(2);
  if (!bin || !out) {
    console.error('usage: node ts-client-test.js FACEREC_BINARY OUT_DIR');
    process.exit(2);
  }
  fs.mkdirSync(out, { recursive: true });
  const t0 = Date.now();

  // 1. The committed types are the spec's.
  const fresh = path.join(out, 'schema.d.ts');
  run(process.execPath, [path.join(BIN, 'openapi-typescript'), path.join(ROOT, 'docs', 'openapi.yaml'), '-o', fresh],
    { cwd: __dirname, stdio: ['ignore', 'ignore', 'inherit'] });
  const committed = path.join(EXAMPLE, 'src', 'schema.d.ts');
  const same = fs.readFileSync(fresh, 'utf8') === fs.readFileSync(committed, 'utf8');
  check(same, 'examples/ts-client/src/schema.d.ts is current');
  if (!same) {
    console.log('  regenerate: (cd tests/contract && node_modules/.bin/openapi-typescript ../../docs/openapi.yaml ' +
      '-o ../../examples/ts-client/src/schema.d.ts)');
  }

  // 2. Compile.
  const dist = path.join(out, 'dist');
  run(process.execPath, [path.join(__dirname, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', EXAMPLE,
    '--outDir', dist, '--typeRoots', path.join(__dirname, 'node_modules', '@types')]);
  check(fs.existsSync(path.join(dist, 'example.js')), 'tsc compiled the client and the example');
  console.log(`  (types and compile: ${((Date.now() - t0) / 1000).toFixed(1)} s)`);

  // 3. Against a real server.
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fr-ts-client-'));
  const data = path.join(tmp, 'data');
  const models = process.env.FACEREC_MODELS || path.join(ROOT, 'models');
  const photos = process.env.FACEREC_TESTDATA || path.join(ROOT, '..', 'shared', 'testdata', 'face_recognition');
  let server = null;
  try {
    const key = run(bin, ['user', 'add', 'ts-alice', '--data', data]).trim();
    check(/^fr_/.test(key), 'facerec user add printed a key');
    server = await startServer(bin, data, models, path.join(tmp, 'server.log'));
    // The binary serves the YAML of this checkout, not a stale build of it.
    const served = await fetch(`http://127.0.0.1:${server.port}/openapi.json`);
    check(served.status === 200 && served.headers.get('content-type') === 'application/json' &&
      JSON.stringify(await served.json()) === JSON.stringify(loadSpec()), 'GET /openapi.json is docs/openapi.yaml');
    const img = (rel) => path.join(photos, rel);
    const t1 = Date.now();
    const outText = run(process.execPath, [path.join(dist, 'example.js'), '--url', `http://127.0.0.1:${server.port}`,
      '--key', key, '--enroll', `Barack=${img('examples/obama.jpg')}`, '--enroll', `Joe=${img('examples/biden.jpg')}`,
      '--recognize', img('examples/obama2.jpg'), img('examples/two_people.jpg'),
      img('examples/knn_examples/test/alex_lacamoire1.jpg')]);
    console.log(`  (example run: ${((Date.now() - t1) / 1000).toFixed(1)} s)`);
    const s = JSON.parse(outText);
    console.log(`  summary: ${outText.trim()}`);
    check(s.health === 'ok', 'healthz');
    check(s.detect.length === 5 && s.detect.every((d) => d.faces >= 1 && d.landmarks),
      'detect: every photo has faces with 68 landmarks');
    check(s.detect[3].faces === 2, 'detect: two_people.jpg has two faces');
    check(JSON.stringify(s.people.map((p) => [p.name, p.faces])) === '[["Barack",1],["Joe",1]]',
      'people: Barack and Joe, one face each');
    check(JSON.stringify(s.recognize[0].names) === '["Barack"]', 'recognize: obama2.jpg is Barack');
    check([...s.recognize[1].names].sort().join(',') === 'Barack,Joe', 'recognize: two_people.jpg is Barack and Joe');
    check(s.recognize[2].names.length >= 1 && s.recognize[2].names.every((n) => n === 'unknown'),
      'recognize: a stranger is unknown');
    check(s.verify && s.verify.same_person === true && s.verify.distance < 0.6, 'verify: obama.jpg and obama2.jpg');
    check(s.thumbnail.jpeg && s.thumbnail.bytes > 500, 'thumbnail: a JPEG');
    check(s.missing_person === '404 not_found', 'a missing person is a typed 404 not_found');
    check(s.jobs === 0, 'jobs: none yet');
  } finally {
    if (server) check((await stopServer(server)) === 0, 'facerec serve exited 0 on SIGTERM');
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  console.log(`ts-client: ${failures ? `${failures} checks failed` : 'every check passed'} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  process.exit(failures ? 1 : 0);
}

main().catch((e) => {
  console.error(`ts-client: ${e.stack || e}`);
  process.exit(1);
});
