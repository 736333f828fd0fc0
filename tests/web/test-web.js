#!/usr/bin/env node
// The web app in a real browser: Debian's chromium, headless, driven by
// puppeteer-core, against the real `facerec serve` (port 0, its own data
// directory, keys from `facerec user add`).
//
// Asserts: the app's headers (CSP, nosniff, ETag/304); sign-in with a key
// (a wrong key is refused); the dashboard's numbers change while a load
// runs; people are listed with faces and counts; rename and merge; a face
// moved between people and back to unassigned, and grouped by "Group into
// people" (a job appears); a photo recognized with boxes and names, and a
// clicked face enrolled; a person named <img src=x onerror=...> shown as
// text, never run; another user's people never shown; the admin key sees
// every user; no console errors, page errors or failed requests; at
// 1280x800 and 390x844 (no horizontal scrolling). Screenshots go to
// BUILD/web-screenshots/.
//
// The server loads tests/fake-nvml.c's library (two fake GPUs, one named
// with a quote and a backslash), so that the dashboard's GPU panel is
// exercised on a machine without NVIDIA's driver.
//
// Usage: node tests/web/test-web.js BUILD_DIR SOURCE_DIR [FAKE_NVML_LIBRARY]
// Exit 0: passed; 1: failed; 77: skipped (no chromium on this machine).
'use strict';
const { spawn, execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const [BUILD, SRC, FAKE_NVML] = process.argv.slice(2).map((p) => p && path.resolve(p));
if (!BUILD || !SRC) {
  console.error('usage: test-web.js BUILD_DIR SOURCE_DIR');
  process.exit(2);
}
const CHROMIUM = [process.env.CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser']
  .find((p) => p && fs.existsSync(p));
if (!CHROMIUM) {
  console.log('SKIPPED: no chromium (install it with scripts/install-deps.sh)');
  process.exit(77);
}
let puppeteer;
try {
  puppeteer = require('puppeteer-core');
} catch (e) {
  console.error('test-web: puppeteer-core is not installed in tests/web/node_modules; run scripts/fetch-web.sh ' +
    '(make test does)');
  process.exit(1);
}

const FACEREC = path.join(BUILD, 'facerec');
const MODELS = process.env.FACEREC_MODELS || path.join(SRC, 'models');
const DATA = process.env.FACEREC_TESTDATA || path.join(SRC, '..', 'shared', 'testdata', 'face_recognition');
const PHOTO = (n) => path.join(DATA, 'examples', n);
const SHOTS = path.join(BUILD, 'web-screenshots');
const XSS = '<img src=x onerror=alert(1)>';
const DEADLINE_MS = 90000; // for anything that waits on the server: the machine may be loaded

let passed = 0;
const failures = [];
function check(cond, what) {
  if (cond) {
    passed++;
    console.log(`ok - ${what}`);
  } else {
    failures.push(what);
    console.log(`not ok - ${what}`);
  }
}

// ---- the server ------------------------------------------------------------

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fr-web-'));
const dataDir = path.join(tmp, 'data');
function userAdd(name, admin) {
  const args = ['user', 'add', name, '--data', dataDir];
  if (admin) args.push('--admin');
  return execFileSync(FACEREC, args, { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
}

let server = null;
function startServer() {
  return new Promise((resolve, reject) => {
    server = spawn(FACEREC, ['serve', '--listen', '127.0.0.1:0', '--data', dataDir, '--models', MODELS,
      '--log-level', 'warn', '--max-workers', '1'], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: FAKE_NVML ? { ...process.env, FACEREC_NVML_LIBRARY: FAKE_NVML } : process.env,
    });
    let log = '';
    const timer = setTimeout(() => reject(new Error(`no port reported in 120 s:\n${log}`)), 120000);
    server.stderr.on('data', (d) => {
      log += d;
      const m = log.match(/listening on .* \(port (\d+)\)/);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    server.on('exit', (code) => reject(new Error(`facerec serve exited (${code}):\n${log}`)));
  });
}

let BASE = '';
let logged5xx = 0;
async function call(key, method, p, body, type) {
  const headers = { 'X-API-Key': key };
  if (type) headers['Content-Type'] = type;
  const r = await fetch(BASE + p, { method, headers, body });
  const text = await r.text();
  if (r.status >= 500 && logged5xx++ < 5) console.log(`# ${method} ${p}: ${r.status} ${text}`);
  let doc = null;
  try { doc = JSON.parse(text); } catch { /* not JSON */ }
  return { status: r.status, doc, headers: r.headers };
}
const json = (key, method, p, obj) => call(key, method, p, JSON.stringify(obj), 'application/json');
const image = (key, p, file) => call(key, 'POST', p, fs.readFileSync(file), 'image/jpeg');

async function waitReady() {
  const t0 = Date.now();
  for (;;) {
    try {
      const r = await fetch(BASE + '/readyz');
      if (r.status === 200) return;
    } catch { /* not yet */ }
    if (Date.now() - t0 > 180000) throw new Error('the server was not ready after 180 s');
    await new Promise((ok) => setTimeout(ok, 1000));
  }
}

// Closed-loop detect requests until stop() is called.
function load(key, n) {
  let running = true;
  const body = fs.readFileSync(PHOTO('two_people.jpg'));
  const loops = Array.from({ length: n }, async () => {
    while (running) {
      try { await call(key, 'POST', '/v1/detect', body, 'image/jpeg'); } catch { /* counted by the server */ }
    }
  });
  return async () => {
    running = false;
    await Promise.all(loops);
  };
}

// ---- the browser -----------------------------------------------------------

let current = null; // the page in use, for a screenshot when a step fails
function watch(page, label) {
  current = page;
  const problems = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'assert') problems.push(`${label}: console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`${label}: page error: ${e.message}`));
  page.on('requestfailed', (r) => {
    // Thumbnails of a page left before they arrived are aborted: harmless.
    if (r.failure() && r.failure().errorText !== 'net::ERR_ABORTED') problems.push(`${label}: request failed: ${r.url()}`);
  });
  page.on('dialog', async (d) => {
    if (d.type() === 'confirm') return d.accept();
    problems.push(`${label}: unexpected ${d.type()} dialog: ${d.message()}`);
    return d.dismiss();
  });
  return problems;
}

async function shot(page, name) {
  const f = path.join(SHOTS, name);
  await page.screenshot({ path: f, fullPage: false });
  console.log(`# screenshot ${f}`);
}

const text = (page, sel) => page.$eval(sel, (e) => e.textContent);
const num = (s) => Number(String(s).replace(/[^0-9.]/g, '')) || 0;

async function signIn(page, key) {
  await page.goto(BASE + '/', { waitUntil: 'load' });
  await page.waitForSelector('#api-key');
  await page.type('#api-key', key);
  await page.click('#signin button[type=submit]');
  await page.waitForSelector('#faces-per-s', { timeout: DEADLINE_MS });
}

async function noHorizontalScroll(page) {
  return page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1);
}

async function dashboard(page, key, vp) {
  // Two samples a second apart with a load running: the totals grow and
  // faces/s is positive at some point.
  const stop = load(key, 2);
  try {
    const before = num(await text(page, '#images-total'));
    await page.waitForFunction((b) => Number(document.querySelector('#images-total').textContent.replace(/[^0-9.]/g, '')) > b,
      { timeout: DEADLINE_MS, polling: 250 }, before);
    await page.waitForFunction(() => Number(document.querySelector('#faces-per-s').textContent.replace(/[^0-9.]/g, '')) > 0,
      { timeout: DEADLINE_MS, polling: 250 });
    const after = num(await text(page, '#images-total'));
    check(after > before, `${vp}: dashboard images total went from ${before} to ${after} under load`);
    check(true, `${vp}: dashboard faces/s rose above 0 under load`);
    // A few more seconds of history for the charts.
    await new Promise((ok) => setTimeout(ok, 4000));
  } finally {
    await stop();
  }
  console.log(`# responses by status: ${JSON.stringify((await call(key, 'GET', '/status')).doc.server.requests.by_status)}`);
  if (FAKE_NVML) {
    await page.waitForFunction(() => document.querySelectorAll('.gpu').length === 2);
    const gpus = await page.$$eval('.gpu .gpu-name', (g) => g.map((x) => x.textContent));
    check(gpus[0] === '0: Fake GPU "A\\100"' && gpus[1] === '1: Fake GPU B',
      `${vp}: every GPU NVML reports is shown, names as text (${gpus})`);
    // The fake's first GPU is 42% busy (NVML's share, shown in percent).
    const util = await page.$eval('.gpu .meter-value', (m) => m.textContent);
    check(util === '42%', `${vp}: GPU utilisation in percent (${util})`);
  }
  const charts = await page.$$eval('.chart canvas', (c) => c.length);
  check(charts >= 4, `${vp}: four charts are drawn (${charts} canvases)`);
  const batches = await page.$$eval('.panel .meter', (m) => m.length);
  check(batches >= 5, `${vp}: batch and memory meters shown (${batches})`);
}

async function main() {
  fs.mkdirSync(SHOTS, { recursive: true });
  const alice = userAdd('alice');
  const bob = userAdd('bob');
  const root = userAdd('root', true);
  const port = await startServer();
  BASE = `http://127.0.0.1:${port}`;
  await waitReady();

  // ---- the app's headers ----
  const r = await fetch(BASE + '/');
  const csp = r.headers.get('content-security-policy') || '';
  check(r.status === 200 && r.headers.get('content-type').startsWith('text/html'), 'GET / is the app (text/html)');
  check(/default-src 'self'/.test(csp) && /script-src 'self'(;|$)/.test(csp) && !/unsafe-inline/.test(csp),
    `strict CSP: ${csp}`);
  check(r.headers.get('x-content-type-options') === 'nosniff', 'X-Content-Type-Options: nosniff');
  const js = await fetch(BASE + '/app.js');
  const etag = js.headers.get('etag');
  check(js.headers.get('content-type').startsWith('text/javascript') && etag, 'app.js: text/javascript with an ETag');
  const again = await fetch(BASE + '/app.js', { headers: { 'If-None-Match': etag } });
  check(again.status === 304, 'a matching If-None-Match gets 304');
  const css = await fetch(BASE + '/vendor/uPlot.min.css');
  check(css.status === 200 && css.headers.get('content-type').startsWith('text/css'), 'uPlot is served from the binary');

  // ---- the gallery the pages show ----
  const mk = async (key, name) => (await json(key, 'POST', '/v1/people', { name })).doc.id;
  const barack = await mk(alice, 'Barack');
  const dup = await mk(alice, 'Obama duplicate');
  const joe = await mk(alice, 'Joe');
  const xss = await mk(alice, XSS);
  await mk(bob, 'bob-private-person');
  check((await image(alice, `/v1/people/${barack}/faces`, PHOTO('obama.jpg'))).status === 201, 'enroll obama.jpg');
  check((await image(alice, `/v1/people/${dup}/faces`, PHOTO('obama2.jpg'))).status === 201, 'enroll obama2.jpg');
  check((await image(alice, `/v1/people/${joe}/faces`, PHOTO('biden.jpg'))).status === 201, 'enroll biden.jpg');
  check((await image(alice, `/v1/people/${xss}/faces`, PHOTO('knn_examples/train/rose_leslie/img1.jpg'))).status === 201,
    'enroll a photo into the XSS-named person');

  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--no-default-browser-check'],
  });
  const problems = [];
  try {
    // ---- 1280x800: everything ----
    {
      const vp = '1280x800';
      const page = await browser.newPage();
      await page.setViewport({ width: 1280, height: 800 });
      const seen = watch(page, vp);
      page.setDefaultTimeout(DEADLINE_MS);

      // A wrong key is refused, and nothing is stored.
      await page.goto(BASE + '/', { waitUntil: 'load' });
      await page.waitForSelector('#api-key');
      await page.type('#api-key', 'fr_not_a_key');
      await page.click('#signin button[type=submit]');
      await page.waitForFunction(() => ((document.querySelector('#signin-error') || {}).textContent || '').length > 0);
      check(/not valid/.test(await text(page, '#signin-error')), `${vp}: a wrong key is refused`);
      // That 401 is the browser's own console line for a failed fetch: expected here only.
      seen.length = 0;

      await signIn(page, alice);
      check(await page.evaluate(() => !location.href.includes('fr_')), `${vp}: the key is not in the URL`);
      check(await page.evaluate((k) => sessionStorage.getItem('facerec.key') === k, alice),
        `${vp}: the key is kept in sessionStorage`);
      check((await text(page, '#user-name')) === 'alice', `${vp}: signed in as alice`);
      await dashboard(page, alice, vp);
      const users = await page.$$eval('#users-table tbody tr td:first-child', (t) => t.map((x) => x.textContent));
      check(users.length === 1 && users[0] === 'alice', `${vp}: a user key sees only its own user (${users})`);
      await shot(page, 'dashboard-1280x800.png');
      await page.screenshot({ path: path.join(SHOTS, 'dashboard-full-1280x800.png'), fullPage: true });

      // People grid: thumbnails, counts, the XSS name as text.
      await page.goto(BASE + '/#/people');
      await page.waitForSelector('#people-grid .card.person');
      await page.waitForFunction(() => [...document.querySelectorAll('#people-grid img.thumb')].filter((i) => i.complete && i.naturalWidth > 0).length >= 4);
      const names = await page.$$eval('#people-grid .card-name', (n) => n.map((x) => x.textContent));
      check(names.includes(XSS), `${vp}: the person named ${XSS} is shown as text`);
      check(await page.evaluate(() => !document.querySelector('img[src="x"]') && !window.__xss),
        `${vp}: no element was made from the name`);
      check(!names.includes('bob-private-person'), `${vp}: another user's people are not shown`);
      const counts = await page.$$eval('#people-grid .card-count', (n) => n.map((x) => x.textContent));
      check(counts.every((c) => /^1 face$/.test(c)), `${vp}: each person shows its face count (${counts})`);
      await shot(page, 'people-1280x800.png');

      // Rename.
      await page.click(`#people-grid .card[data-id="${barack}"]`);
      await page.waitForSelector('#rename input');
      await page.$eval('#rename input', (i) => { i.value = ''; });
      await page.type('#rename input', 'Barack Obama');
      await page.click('#rename button');
      await page.waitForFunction(() => (document.querySelector('#person-name') || {}).textContent === 'Barack Obama');
      check((await call(alice, 'GET', `/v1/people/${barack}`)).doc.name === 'Barack Obama', `${vp}: renamed in the gallery`);

      // Merge the duplicate into this person.
      await page.select('#merge-from', String(dup));
      await page.click('#merge');
      await page.waitForFunction(() => /^2 faces/.test((document.querySelector('#person-count') || {}).textContent));
      check((await call(alice, 'GET', `/v1/people/${dup}`)).status === 404, `${vp}: merged person is gone`);
      check((await call(alice, 'GET', `/v1/people/${barack}`)).doc.faces === 2, `${vp}: merged faces moved`);
      const faceCards = await page.$$('#person-faces .card.face');
      check(faceCards.length === 2, `${vp}: the person page shows both faces`);

      // Move one face to Joe, then back to unassigned.
      const faceId = Number(await page.$eval('#person-faces .card.face', (c) => c.dataset.id));
      await page.select(`#person-faces .card.face[data-id="${faceId}"] select.move`, String(joe));
      await page.waitForFunction(() => /^1 face/.test((document.querySelector('#person-count') || {}).textContent));
      check((await call(alice, 'GET', `/v1/people/${joe}`)).doc.faces === 2, `${vp}: a face moved to another person`);
      // ... and from Joe's page back among the unassigned faces.
      await page.goto(BASE + `/#/people/${joe}`);
      await page.waitForSelector(`#person-faces .card.face[data-id="${faceId}"] select.move`);
      await page.select(`#person-faces .card.face[data-id="${faceId}"] select.move`, '0');
      await page.waitForFunction(() => /^1 face/.test((document.querySelector('#person-count') || {}).textContent));
      check((await call(alice, 'GET', `/v1/people/${joe}`)).doc.faces === 1, `${vp}: a face moved back to unassigned`);

      // Drag and drop a photo onto the person's page: enrolled into Joe.
      await page.evaluate(async (b64, name) => {
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], name, { type: 'image/jpeg' }));
        const target = document.querySelector('#enroll-drop');
        for (const type of ['dragenter', 'dragover', 'drop'])
          target.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
      }, fs.readFileSync(PHOTO('knn_examples/train/biden/biden2.jpg')).toString('base64'), 'biden2.jpg');
      await page.waitForFunction(() => /^2 faces/.test((document.querySelector('#person-count') || {}).textContent));
      check((await call(alice, 'GET', `/v1/people/${joe}`)).doc.faces === 2, `${vp}: a dropped photo was enrolled`);

      // Index a photo by dropping it on the people page; its faces are unassigned.
      await page.goto(BASE + '/#/people');
      await page.waitForSelector('#index-drop input[type=file]');
      const drop = await page.$('#index-drop input[type=file]');
      await drop.uploadFile(PHOTO('obama-480p.jpg'));
      await page.waitForFunction(() => document.querySelectorAll('#unassigned-grid .card.face').length === 2);
      const un = (await call(alice, 'GET', '/v1/faces/unassigned')).doc.faces;
      check(un.length === 2, `${vp}: the dropped photo's face and the moved one are unassigned (${un.length})`);
      // Group into people: both join Barack Obama (their nearest person).
      await page.click('#cluster');
      await page.waitForFunction(() => ((document.querySelector('#unassigned-grid') || {}).textContent || '').includes('None.'));
      check((await call(alice, 'GET', '/v1/faces/unassigned')).doc.faces.length === 0, `${vp}: grouped into people`);

      // Jobs: the cluster run is listed.
      await page.goto(BASE + '/#/jobs');
      await page.waitForSelector('#jobs tr.job');
      const kinds = await page.$$eval('#jobs tr.job td:nth-child(2)', (t) => t.map((x) => x.textContent));
      check(kinds.includes('cluster'), `${vp}: the cluster job is listed (${kinds})`);

      // Recognize: boxes and names.
      await page.goto(BASE + '/#/recognize');
      await page.waitForSelector('#recognize-drop input[type=file]');
      await (await page.$('#recognize-drop input[type=file]')).uploadFile(PHOTO('two_people.jpg'));
      await page.waitForSelector('.face-box');
      await page.waitForFunction(() => (document.querySelector('#recognize-photo') || {}).complete);
      const labels = await page.$$eval('.face-box .face-label', (l) => l.map((x) => x.textContent));
      check(labels.length === 2, `${vp}: two boxes on two_people.jpg (${labels})`);
      check(labels.some((l) => l.startsWith('Barack Obama')) && labels.some((l) => l.startsWith('Joe')),
        `${vp}: both faces named (${labels})`);
      const boxOk = await page.$$eval('.face-box', (b) => b.every((x) => x.getBoundingClientRect().width > 10));
      check(boxOk, `${vp}: boxes are drawn over the photo`);
      await shot(page, 'recognize-1280x800.png');

      // Click a face and enroll it into a new person.
      await page.click('.face-box[data-index="0"]');
      await page.waitForSelector('#enroll-form');
      // The recognized person is preselected: choose a new one.
      await page.select('#enroll-person', '');
      await page.$eval('#enroll-name', (i) => { i.value = 'From the photo'; });
      await page.$eval('#enroll-form', (f) => f.requestSubmit());
      // The page recognizes the photo again once the face is in.
      let fresh = null;
      for (const t0 = Date.now(); !(fresh && fresh.faces === 1) && Date.now() - t0 < DEADLINE_MS;) {
        await new Promise((ok) => setTimeout(ok, 250));
        fresh = (await call(alice, 'GET', '/v1/people')).doc.people.find((p) => p.name === 'From the photo');
      }
      await page.waitForSelector('.face-box');
      if (!(fresh && fresh.faces === 1)) console.log(`# messages: ${await text(page, '#toasts')}`);
      check(fresh && fresh.faces === 1, `${vp}: the clicked face was enrolled into a new person`);
      check(await noHorizontalScroll(page), `${vp}: no horizontal scrolling`);
      problems.push(...seen);
      await page.close();
    }

    // ---- 390x844 (a phone): the same pages fit ----
    {
      const vp = '390x844';
      const page = await browser.newPage();
      await page.setViewport({ width: 390, height: 844, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
      const seen = watch(page, vp);
      page.setDefaultTimeout(DEADLINE_MS);
      await signIn(page, alice);
      await dashboard(page, alice, vp);
      check(await noHorizontalScroll(page), `${vp}: dashboard without horizontal scrolling`);
      await shot(page, 'dashboard-390x844.png');
      await page.goto(BASE + '/#/people');
      await page.waitForSelector('#people-grid .card.person');
      await page.waitForFunction(() => [...document.querySelectorAll('#people-grid img.thumb')].filter((i) => i.complete && i.naturalWidth > 0).length >= 3);
      check(await noHorizontalScroll(page), `${vp}: people without horizontal scrolling`);
      await shot(page, 'people-390x844.png');
      await page.goto(BASE + '/#/recognize');
      await (await page.waitForSelector('#recognize-drop input[type=file]')).uploadFile(PHOTO('two_people.jpg'));
      await page.waitForSelector('.face-box');
      check((await page.$$('.face-box')).length === 2, `${vp}: recognize shows the boxes`);
      check(await noHorizontalScroll(page), `${vp}: recognize without horizontal scrolling`);
      await shot(page, 'recognize-390x844.png');
      problems.push(...seen);
      await page.close();
    }

    // ---- the admin key sees every user ----
    {
      const page = await browser.newPage();
      await page.setViewport({ width: 1280, height: 800 });
      const seen = watch(page, 'admin');
      // A fresh page shares sessionStorage? No: each page is its own tab.
      await signIn(page, root);
      await page.waitForSelector('#users-table');
      const users = await page.$$eval('#users-table tbody tr td:first-child', (t) => t.map((x) => x.firstChild.textContent));
      check(['alice', 'bob', 'root'].every((u) => users.includes(u)), `admin: every user's status is shown (${users})`);
      problems.push(...seen);
      await page.close();
    }
  } catch (e) {
    // Where it stopped: the page and its messages.
    try {
      console.log(`# at ${current.url()}; messages: ${await current.$eval('#toasts', (t) => t.textContent)}`);
      await shot(current, 'failure.png');
    } catch { /* no page */ }
    throw e;
  } finally {
    await browser.close();
  }
  for (const p of problems) console.log(`# ${p}`);
  check(problems.length === 0, `no console errors, page errors or failed requests (${problems.length})`);
}

main()
  .catch((e) => {
    failures.push(`exception: ${e.stack || e}`);
    console.log(`not ok - ${e.stack || e}`);
  })
  .finally(() => {
    if (server && server.exitCode === null) server.kill('SIGTERM');
    fs.rmSync(tmp, { recursive: true, force: true });
    console.log(`${passed} passed, ${failures.length} failed`);
    process.exit(failures.length ? 1 : 0);
  });
