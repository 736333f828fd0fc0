'use strict';
/*
 * facerec reference harness: runs @vladmandic/face-api (tfjs, wasm or cpu
 * backend) fully offline and writes the golden JSON that facerec's C
 * implementation is compared against.
 *
 * Usage:
 *   node reference.js --backend wasm|cpu --models DIR --out-dir DIR
 *                     [--no-simd] [--bench] [--bench-seconds S] [PPM...]
 *
 * Inputs are binary PPM files (P6, maxval 255, RGB) written by facerec's own
 * decoder (build/fr-ppm), so both sides see identical pixels. Each becomes a
 * tf.tensor3d(int32, [H, W, 3]): face-api then takes its tensor code path
 * (no canvas). The image key is the PPM basename without ".ppm"; "file" is
 * that key with "__" turned back into "/".
 *
 * Writes into --out-dir:
 *   pipeline.json  detectAllFaces(SSD).withFaceLandmarks().withFaceDescriptors()
 *                  and detectAllFaces(TinyFaceDetector) per image (only when
 *                  PPMs are given).
 *   nets.json      each net's raw forwardInput() output on the synthetic
 *                  images defined by synthPixel() below.
 *   bench.json     with --bench: face-api's own throughput (items/s).
 *
 * Number format: values that come out of a float32 tensor (scores,
 * descriptors, raw net outputs) are written as the shortest decimal that
 * reads back to the same float32; values face-api computes in JS doubles
 * (boxes, landmark positions) are written as JS's shortest round-trip double.
 * Output is deterministic: same inputs + same backend => identical files.
 */

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');
const wasmBackend = require('@tensorflow/tfjs-backend-wasm');

const { tf } = faceapi;

/* ------------------------------------------------------------------------ */
/* Synthetic input generator: must stay bit-identical to the C tests.       */
/* ------------------------------------------------------------------------ */

/*
 * pixel(y, x, c) of a W x H RGB uint8 image, integers only:
 *   (x * 7 + y * 13 + c * 50 + ((x * y) % 31) * 3) % 256
 * x in [0, W), y in [0, H), c in {0: R, 1: G, 2: B}; stored HWC row-major,
 * index (y * W + x) * 3 + c. (Max intermediate value < 2^16, no overflow.)
 */
function synthPixel(y, x, c) {
  return (x * 7 + y * 13 + c * 50 + ((x * y) % 31) * 3) % 256;
}

const GENERATOR = {
  formula: 'pixel(y, x, c) = (x * 7 + y * 13 + c * 50 + ((x * y) % 31) * 3) % 256',
  domain: 'integers; x in [0,W), y in [0,H), c in {0:R,1:G,2:B}',
  layout: 'HWC row-major uint8, index = (y * W + x) * 3 + c',
  tensor: "tf.tensor3d(int32 data, [H, W, 3], 'int32') passed to faceapi.toNetInput()",
  input_sum: 'sum of all H*W*3 pixel values (check for the C generator)',
};

function synthImage(width, height) {
  const data = new Int32Array(width * height * 3);
  let sum = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < 3; c++) {
        const v = synthPixel(y, x, c);
        data[(y * width + x) * 3 + c] = v;
        sum += v;
      }
    }
  }
  return { width, height, data, sum };
}

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

function die(msg) {
  process.stderr.write(`reference: ${msg}\n`);
  process.exit(1);
}

function usage() {
  return [
    'usage: node reference.js --backend wasm|cpu --models DIR --out-dir DIR',
    '                         [--no-simd] [--bench] [--bench-seconds S] [PPM...]',
    '  --backend        tfjs backend: wasm (golden reference) or cpu',
    '  --models DIR     face-api model dir (*-weights_manifest.json + *.bin)',
    '  --out-dir DIR    where pipeline.json, nets.json, bench.json go',
    '  --no-simd        wasm: force the plain (non-SIMD) wasm binary',
    '  --bench          also measure throughput, print a table, write bench.json',
    '  --bench-seconds  minimum measuring time per bench case (default 2)',
    '  --bench-pipeline-only  bench only the whole SSD pipeline over the PPMs (implies --bench)',
    '  --skip-pipeline  do not write pipeline.json',
    '  --skip-nets      do not write nets.json',
  ].join('\n');
}

function parseArgs(argv) {
  const o = { backend: null, models: null, outDir: null, simd: true, bench: false, benchSeconds: 2, skipNets: false, skipPipeline: false, benchPipelineOnly: false, ppms: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) die(`${a} needs a value\n${usage()}`);
      i += 1;
      return argv[i];
    };
    if (a === '--backend') o.backend = val();
    else if (a === '--models') o.models = val();
    else if (a === '--out-dir') o.outDir = val();
    else if (a === '--no-simd') o.simd = false;
    else if (a === '--bench') o.bench = true;
    else if (a === '--skip-pipeline') o.skipPipeline = true;
    else if (a === '--bench-pipeline-only') { o.bench = true; o.benchPipelineOnly = true; }
    else if (a === '--bench-seconds') o.benchSeconds = Number(val());
    else if (a === '--skip-nets') o.skipNets = true;
    else if (a === '-h' || a === '--help') { process.stdout.write(`${usage()}\n`); process.exit(0); }
    else if (a.startsWith('--')) die(`unknown option ${a}\n${usage()}`);
    else o.ppms.push(a);
  }
  if (o.backend !== 'wasm' && o.backend !== 'cpu') die(`--backend must be wasm or cpu\n${usage()}`);
  if (!o.models) die(`--models is required\n${usage()}`);
  if (!o.outDir) die(`--out-dir is required\n${usage()}`);
  if (!(o.benchSeconds > 0)) die('--bench-seconds must be > 0');
  return o;
}

/* Shortest decimal that reads back (as float32) to the same float32. */
function f32(v) {
  const x = Math.fround(v);
  if (!Number.isFinite(x)) throw new Error(`non-finite float32 value ${v}`);
  for (let p = 1; p <= 9; p++) {
    const s = Number(x.toPrecision(p));
    if (Math.fround(s) === x) return s === 0 ? 0 : s; /* no -0 */
  }
  return x;
}

function f64(v) {
  if (!Number.isFinite(v)) throw new Error(`non-finite value ${v}`);
  return v === 0 ? 0 : v;
}

const f32a = (arr) => Array.from(arr, f32);
const boxArr = (b) => [f64(b.x), f64(b.y), f64(b.width), f64(b.height)];

/* Read a binary PPM: P6, maxval 255, RGB. Returns Int32Array HWC data. */
function readPpm(file) {
  const buf = fs.readFileSync(file);
  let pos = 0;
  const token = () => {
    for (;;) { /* skip whitespace and comments */
      while (pos < buf.length && /\s/.test(String.fromCharCode(buf[pos]))) pos++;
      if (buf[pos] === 0x23) { while (pos < buf.length && buf[pos] !== 0x0a) pos++; } else break;
    }
    const start = pos;
    while (pos < buf.length && !/\s/.test(String.fromCharCode(buf[pos]))) pos++;
    return buf.toString('latin1', start, pos);
  };
  const magic = token();
  if (magic !== 'P6') throw new Error(`${file}: not a binary RGB PPM (magic ${JSON.stringify(magic)}, want P6)`);
  const width = Number(token());
  const height = Number(token());
  const maxval = Number(token());
  if (!(Number.isInteger(width) && width > 0 && Number.isInteger(height) && height > 0)) throw new Error(`${file}: bad size ${width}x${height}`);
  if (maxval !== 255) throw new Error(`${file}: maxval ${maxval}, want 255`);
  pos += 1; /* the single whitespace byte after maxval */
  const n = width * height * 3;
  if (buf.length - pos < n) throw new Error(`${file}: truncated (${buf.length - pos} of ${n} pixel bytes)`);
  return { width, height, data: Int32Array.from(buf.subarray(pos, pos + n)) };
}

/* Serialize: objects indented, arrays of scalars on one line, arrays of
 * short scalar arrays on one line when small (landmarks), else one per line. */
function toJson(v, indent = '') {
  const inner = `${indent}  `;
  const isScalar = (x) => x === null || typeof x !== 'object';
  if (isScalar(v)) return JSON.stringify(v);
  if (Array.isArray(v)) {
    if (v.every(isScalar)) return JSON.stringify(v);
    if (v.every((e) => Array.isArray(e) && e.every(isScalar)) && v.length <= 128) return JSON.stringify(v);
    if (v.length === 0) return '[]';
    return `[\n${v.map((e) => inner + toJson(e, inner)).join(',\n')}\n${indent}]`;
  }
  const keys = Object.keys(v);
  if (keys.length === 0) return '{}';
  return `{\n${keys.map((k) => `${inner}${JSON.stringify(k)}: ${toJson(v[k], inner)}`).join(',\n')}\n${indent}}`;
}

function writeJson(file, obj) {
  const tmp = `${file}.tmp.${process.pid}`;
  fs.writeFileSync(tmp, `${toJson(obj)}\n`);
  fs.renameSync(tmp, file);
  process.stderr.write(`reference: wrote ${file} (${fs.statSync(file).size} bytes)\n`);
}

function pkgVersion(name) {
  return JSON.parse(fs.readFileSync(require.resolve(`${name}/package.json`), 'utf8')).version;
}

/* ------------------------------------------------------------------------ */
/* Backend and models                                                       */
/* ------------------------------------------------------------------------ */

const MODEL_NAMES = {
  ssdMobilenetv1: 'ssd_mobilenetv1_model',
  tinyFaceDetector: 'tiny_face_detector_model',
  faceLandmark68Net: 'face_landmark_68_model',
  faceRecognitionNet: 'face_recognition_model',
};

async function initBackend(opts) {
  if (opts.backend === 'wasm') {
    /* Local binaries only: never the CDN. The trailing slash matters. */
    const dir = `${path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist')}/`;
    wasmBackend.setWasmPaths(dir);
    /* tfjs 4.22 hard-disables threads under node (IS_NODE); forcing the flag
     * makes init fail (emscripten spawns workers from blob: URLs, which
     * node's Worker rejects). SIMD works under node 20. */
    if (!opts.simd) tf.env().set('WASM_HAS_SIMD_SUPPORT', false);
  }
  const ok = await tf.setBackend(opts.backend);
  await tf.ready();
  if (!ok || tf.getBackend() !== opts.backend) die(`could not initialise tfjs backend ${opts.backend} (got ${tf.getBackend()})`);
  const info = { name: tf.getBackend() };
  if (opts.backend === 'wasm') {
    const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
    const threads = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
    let binary = 'tfjs-backend-wasm.wasm';
    if (simd && threads) binary = 'tfjs-backend-wasm-threaded-simd.wasm';
    else if (simd) binary = 'tfjs-backend-wasm-simd.wasm';
    info.wasm = { simd: !!simd, threads: !!threads, threads_count: wasmBackend.getThreadsCount(), binary };
  }
  return info;
}

async function loadModels(dir) {
  const sums = {};
  for (const [net, base] of Object.entries(MODEL_NAMES)) {
    const manifest = path.join(dir, `${base}-weights_manifest.json`);
    if (!fs.existsSync(manifest)) die(`model manifest missing: ${manifest}`);
    await faceapi.nets[net].loadFromDisk(dir);
    for (const group of JSON.parse(fs.readFileSync(manifest, 'utf8'))) {
      for (const p of group.paths) {
        sums[p] = crypto.createHash('sha256').update(fs.readFileSync(path.join(dir, p))).digest('hex');
      }
    }
  }
  return Object.fromEntries(Object.keys(sums).sort().map((k) => [k, sums[k]]));
}

/* ------------------------------------------------------------------------ */
/* pipeline.json                                                            */
/* ------------------------------------------------------------------------ */

const SSD_OPTIONS = { minConfidence: 0.5, maxResults: 100 };
const TINY_OPTIONS = { inputSize: 416, scoreThreshold: 0.5 };

async function runPipelineImage(img, withTiny = true) {
  const { width: W, height: H } = img;
  const t = tf.tensor3d(img.data, [H, W, 3], 'int32');
  try {
    const results = await faceapi
      .detectAllFaces(t, new faceapi.SsdMobilenetv1Options(SSD_OPTIONS))
      .withFaceLandmarks()
      .withFaceDescriptors();
    const ssd = results.map((r) => ({
      box: boxArr(r.detection.box),
      score: f32(r.detection.score),
      landmarks: r.landmarks.positions.map((p) => [f64(p.x), f64(p.y)]),
      aligned_box: boxArr(r.alignedRect.box),
      /* The integer crops face-api actually fed to the nets (recomputed with
       * face-api's own classes, exactly as its tasks do): */
      landmark_crop: boxArr(r.detection.forSize(W, H).box.clipAtImageBorders(W, H)),
      descriptor_crop: boxArr(r.landmarks.align(null, { useDlibAlignment: true }).clipAtImageBorders(W, H)),
      descriptor: f32a(r.descriptor),
    }));
    if (!withTiny) return { ssd };
    const dets = await faceapi.detectAllFaces(t, new faceapi.TinyFaceDetectorOptions(TINY_OPTIONS));
    const tiny = dets.map((d) => ({ box: boxArr(d.box), score: f64(d.score) }));
    return { ssd, tiny };
  } finally {
    t.dispose();
  }
}

function keyOf(ppm) {
  return path.basename(ppm).replace(/\.ppm$/i, '');
}

async function writePipeline(opts, meta) {
  const entries = opts.ppms.map((p) => ({ key: keyOf(p), file: p }));
  entries.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const images = {};
  for (const { key, file } of entries) {
    if (images[key]) die(`duplicate image key ${key} (${file})`);
    const img = readPpm(file);
    const before = tf.memory().numTensors;
    const t0 = performance.now();
    const res = await runPipelineImage(img);
    const after = tf.memory().numTensors;
    if (after !== before) process.stderr.write(`reference: warning: ${key}: ${after - before} tensors leaked\n`);
    images[key] = { file: key.split('__').join('/'), width: img.width, height: img.height, ...res };
    process.stderr.write(`reference: ${key}: ${img.width}x${img.height} ssd=${res.ssd.length} tiny=${res.tiny.length} (${(performance.now() - t0).toFixed(0)} ms)\n`);
  }
  writeJson(path.join(opts.outDir, 'pipeline.json'), {
    meta: {
      ...meta,
      ssd_options: SSD_OPTIONS,
      tiny_options: TINY_OPTIONS,
      schema: {
        images: 'object keyed by image key (PPM basename without .ppm), sorted',
        file: "image path relative to its data root ('__' in the key -> '/')",
        box: '[x, y, w, h] detection.box in image pixels',
        score: 'detection.score',
        landmarks: '68 x [x, y] result.landmarks.positions in image pixels',
        aligned_box: '[x, y, w, h] result.alignedRect.box (landmarks min-bbox padded 20%; NOT the descriptor crop)',
        landmark_crop: '[x, y, w, h] integer crop fed to faceLandmark68Net: detection.forSize(W,H).box.clipAtImageBorders(W,H)',
        descriptor_crop: '[x, y, w, h] integer crop fed to faceRecognitionNet: landmarks.align(null,{useDlibAlignment:true}).clipAtImageBorders(W,H)',
        descriptor: '128 x float32 result.descriptor',
        tiny: 'TinyFaceDetector detections: {box [x,y,w,h], score}',
      },
    },
    images,
  });
}

/* ------------------------------------------------------------------------ */
/* nets.json                                                                */
/* ------------------------------------------------------------------------ */

async function withInput(width, height, fn) {
  const img = synthImage(width, height);
  const t = tf.tensor3d(img.data, [height, width, 3], 'int32');
  try {
    const netInput = await faceapi.toNetInput(t);
    return { width, height, input_sum: img.sum, ...(await fn(netInput)) };
  } finally {
    t.dispose();
  }
}

async function netsCases() {
  const ssd = [];
  for (const [w, h] of [[512, 512], [640, 400]]) {
    ssd.push(await withInput(w, h, async (ni) => {
      const { boxes, scores } = faceapi.nets.ssdMobilenetv1.forwardInput(ni);
      const b = boxes[0].arraySync();
      const s = scores[0].dataSync();
      tf.dispose([...boxes, ...scores]);
      return { boxes: b.map(f32a), scores: f32a(s) };
    }));
  }
  const tiny = [];
  for (const [w, h] of [[416, 416], [300, 500]]) {
    tiny.push(await withInput(w, h, async (ni) => {
      const out = faceapi.nets.tinyFaceDetector.forwardInput(ni, 416);
      const r = { shape: out.shape.slice(1), output: f32a(out.dataSync()) };
      out.dispose();
      return r;
    }));
  }
  const landmark = [];
  for (const [w, h] of [[112, 112], [90, 130]]) {
    landmark.push(await withInput(w, h, async (ni) => {
      const out = faceapi.nets.faceLandmark68Net.forwardInput(ni);
      const r = { output: f32a(out.dataSync()) };
      out.dispose();
      return r;
    }));
  }
  const recognition = [];
  for (const [w, h] of [[150, 150], [160, 120]]) {
    recognition.push(await withInput(w, h, async (ni) => {
      const out = faceapi.nets.faceRecognitionNet.forwardInput(ni);
      const r = { output: f32a(out.dataSync()) };
      out.dispose();
      return r;
    }));
  }
  return { ssd, tiny, landmark, recognition };
}

async function writeNets(opts, meta) {
  const before = tf.memory().numTensors;
  const cases = await netsCases();
  if (tf.memory().numTensors !== before) process.stderr.write('reference: warning: nets: tensors leaked\n');
  writeJson(path.join(opts.outDir, 'nets.json'), {
    meta: {
      ...meta,
      outputs: {
        ssd: 'nets.ssdMobilenetv1.forwardInput(toNetInput(t)), batch item 0: boxes [5118][4] = decoded [ymin, xmin, ymax, xmax] relative to the 512x512 net input (image padded bottom/right to square, then resized); scores [5118] = sigmoid face score',
        tiny: 'nets.tinyFaceDetector.forwardInput(netInput, 416): raw output [13][13][25] flattened NHWC (5 anchors x [tx, ty, tw, th, objectness logit]); image padded bottom/right to square',
        landmark: 'nets.faceLandmark68Net.forwardInput(netInput): [136] = x0, y0, x1, y1, ... relative to the original input width/height (post-processed; image padded centered to square)',
        recognition: 'nets.faceRecognitionNet.forwardInput(netInput): [128] descriptor (image padded centered to square, resized to 150)',
      },
    },
    generator: GENERATOR,
    ...cases,
  });
}

/* ------------------------------------------------------------------------ */
/* bench                                                                    */
/* ------------------------------------------------------------------------ */

async function timeIt(seconds, fn) {
  for (let i = 0; i < 2; i++) await fn(); /* warm-up */
  let iters = 0;
  const t0 = performance.now();
  let elapsed = 0;
  while (iters < 3 || elapsed < seconds * 1000) {
    await fn();
    iters += 1;
    elapsed = performance.now() - t0;
  }
  return { iters, ms_per_iter: elapsed / iters };
}

async function benchNet(seconds, name, net, size, batch, run) {
  const img = synthImage(size, size);
  const tensors = Array.from({ length: batch }, () => tf.tensor3d(img.data, [size, size, 3], 'int32'));
  const input = batch === 1 ? tensors[0] : tensors; /* array => face-api batch (stacked [N,S,S,3]) */
  const r = await timeIt(seconds, async () => {
    const ni = await faceapi.toNetInput(input);
    await run(ni);
  });
  tf.dispose(tensors);
  return { name, net, input: `${size}x${size}`, batch, iters: r.iters, ms_per_iter: r.ms_per_iter, items_per_s: (batch * 1000) / r.ms_per_iter };
}

async function runBench(opts, meta) {
  const s = opts.benchSeconds;
  const n = faceapi.nets;
  const results = [];
  const add = (r) => {
    results.push(r);
    process.stderr.write(`reference: bench ${r.name}: ${r.items_per_s.toFixed(2)} items/s\n`);
  };
  const dataOf = async (t) => { await t.data(); t.dispose(); };
  if (!opts.benchPipelineOnly) {
  add(await benchNet(s, 'ssd_forward', 'ssdMobilenetv1', 512, 1, async (ni) => {
    const { boxes, scores } = n.ssdMobilenetv1.forwardInput(ni);
    await boxes[0].data(); await scores[0].data();
    tf.dispose([...boxes, ...scores]);
  }));
  add(await benchNet(s, 'ssd_locate_faces', 'ssdMobilenetv1', 512, 1, async (ni) => {
    await n.ssdMobilenetv1.locateFaces(ni, SSD_OPTIONS);
  }));
  add(await benchNet(s, 'tiny_forward', 'tinyFaceDetector', 416, 1, async (ni) => dataOf(n.tinyFaceDetector.forwardInput(ni, 416))));
  for (const b of [1, 8]) {
    add(await benchNet(s, `landmark_b${b}`, 'faceLandmark68Net', 112, b, async (ni) => dataOf(n.faceLandmark68Net.forwardInput(ni))));
  }
  for (const b of [1, 8, 32]) {
    add(await benchNet(s, `recognition_b${b}`, 'faceRecognitionNet', 150, b, async (ni) => dataOf(n.faceRecognitionNet.forwardInput(ni))));
  }
  }
  /* Whole SSD pipeline (detect + landmarks + descriptors, no tiny) on the given images. */
  if (opts.ppms.length) {
    const imgs = opts.ppms.map(readPpm);
    let faces = 0;
    const r = await timeIt(s, async () => {
      faces = 0;
      for (const img of imgs) faces += (await runPipelineImage(img, false)).ssd.length;
    });
    add({ name: 'pipeline_ssd_full', net: 'ssd+landmark68+recognition', input: `${imgs.length} images`, batch: 1, iters: r.iters, ms_per_iter: r.ms_per_iter, items_per_s: (imgs.length * 1000) / r.ms_per_iter, faces_per_iter: faces });
  }
  const table = [
    'case                 input        batch  ms/iter    items/s',
    ...results.map((r) => `${r.name.padEnd(20)} ${r.input.padEnd(12)} ${String(r.batch).padStart(5)} ${r.ms_per_iter.toFixed(2).padStart(8)} ${r.items_per_s.toFixed(2).padStart(10)}`),
  ].join('\n');
  process.stdout.write(`face-api ${meta.face_api_version} tfjs ${meta.tfjs_version} backend ${meta.backend.name}${meta.backend.wasm ? ` (simd=${meta.backend.wasm.simd} threads=${meta.backend.wasm.threads} x${meta.backend.wasm.threads_count})` : ''}\n${table}\n`);
  const round = (x) => Number(x.toPrecision(6));
  writeJson(path.join(opts.outDir, 'bench.json'), {
    meta: { ...meta, bench_seconds: s, warmup_iters: 2, note: 'items/s = batch / time per iteration, including toNetInput and reading the output back' },
    results: results.map((r) => ({ ...r, ms_per_iter: round(r.ms_per_iter), items_per_s: round(r.items_per_s) })),
  });
}

/* ------------------------------------------------------------------------ */

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  fs.mkdirSync(opts.outDir, { recursive: true });
  const backend = await initBackend(opts);
  const modelSha256 = await loadModels(opts.models);
  const meta = {
    generated_by: 'tests/reference/reference.js',
    face_api_version: faceapi.version,
    tfjs_version: tf.version_core,
    packages: Object.fromEntries(['@vladmandic/face-api', '@tensorflow/tfjs', '@tensorflow/tfjs-core',
      '@tensorflow/tfjs-backend-wasm', '@tensorflow/tfjs-backend-cpu'].map((p) => [p, pkgVersion(p)])),
    node_version: process.version,
    backend,
    model_sha256: modelSha256,
  };
  if (opts.ppms.length && !opts.skipPipeline) await writePipeline(opts, meta);
  if (!opts.skipNets) await writeNets(opts, meta);
  if (opts.bench) await runBench(opts, meta);
}

main().catch((e) => die(e && e.stack ? e.stack : String(e)));
