'use strict';
/*
 * Compare two reference output dirs (e.g. wasm vs cpu backend) and print the
 * max abs difference (and the max |value| of A, for scale) per net (nets.json) and per pipeline field
 * (pipeline.json). Pipeline faces are compared by index; a differing face
 * count is reported instead.
 *
 * usage: node compare.js DIR_A DIR_B
 */
const fs = require('fs');
const path = require('path');

function load(dir, name) {
  const f = path.join(dir, name);
  return fs.existsSync(f) ? JSON.parse(fs.readFileSync(f, 'utf8')) : null;
}

function flat(v, out = []) {
  if (Array.isArray(v)) v.forEach((e) => flat(e, out));
  else out.push(v);
  return out;
}

function maxAbs(a, b) {
  const x = flat(a);
  const y = flat(b);
  if (x.length !== y.length) return { n: -1, max: Infinity, scale: 0 };
  let max = 0;
  let scale = 0;
  for (let i = 0; i < x.length; i++) {
    max = Math.max(max, Math.abs(x[i] - y[i]));
    scale = Math.max(scale, Math.abs(x[i]));
  }
  return { n: x.length, max, scale };
}

function main() {
  const [dirA, dirB] = process.argv.slice(2);
  if (!dirA || !dirB) {
    process.stderr.write('usage: node compare.js DIR_A DIR_B\n');
    process.exit(2);
  }
  const rows = [];
  const na = load(dirA, 'nets.json');
  const nb = load(dirB, 'nets.json');
  if (na && nb) {
    for (const net of ['ssd', 'tiny', 'landmark', 'recognition']) {
      na[net].forEach((ca, i) => {
        const cb = nb[net][i];
        const fields = net === 'ssd' ? ['boxes', 'scores'] : ['output'];
        for (const f of fields) {
          const d = maxAbs(ca[f], cb[f]);
          rows.push([`nets.${net}[${ca.width}x${ca.height}].${f}`, d.n, d.max, d.scale]);
        }
      });
    }
  }
  const pa = load(dirA, 'pipeline.json');
  const pb = load(dirB, 'pipeline.json');
  if (pa && pb) {
    const acc = {};
    const bump = (k, d) => {
      acc[k] = acc[k] || { n: 0, max: 0, scale: 0 };
      acc[k].n += d.n;
      acc[k].max = Math.max(acc[k].max, d.max);
      acc[k].scale = Math.max(acc[k].scale, d.scale);
    };
    for (const [key, ia] of Object.entries(pa.images)) {
      const ib = pb.images[key];
      if (!ib) { rows.push([`pipeline.${key}`, 'missing in B', '']); continue; }
      for (const det of ['ssd', 'tiny']) {
        if (ia[det].length !== ib[det].length) {
          rows.push([`pipeline.${key}.${det}`, `count ${ia[det].length} vs ${ib[det].length}`, '']);
          continue;
        }
        ia[det].forEach((fa, i) => {
          for (const f of Object.keys(fa)) bump(`pipeline.${det}.${f}`, maxAbs(fa[f], ib[det][i][f]));
        });
      }
    }
    for (const [k, d] of Object.entries(acc)) rows.push([k, d.n, d.max, d.scale]);
  }
  const e = (v) => (typeof v === 'number' ? v.toExponential(3) : String(v)).padStart(10);
  process.stdout.write(`${'field'.padEnd(44)} ${'values'.padStart(8)}  ${'max|a-b|'.padStart(10)}  ${'max|a|'.padStart(10)}\n`);
  for (const [name, n, max, scale] of rows) {
    process.stdout.write(`${name.padEnd(44)} ${String(n).padStart(8)}  ${e(max)}  ${e(scale === undefined ? '' : scale)}\n`);
  }
}

main();
