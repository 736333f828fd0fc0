'use strict';
// docs/openapi.yaml as a plain object: the one loader every contract script
// (and the build's spec-to-c.js) shares, so that they all read the same
// document. YAML 1.2 core schema; duplicate keys are errors.
const fs = require('fs');
const path = require('path');
const YAML = require('yaml');

const ROOT = path.resolve(__dirname, '..', '..');
const DEFAULT_SPEC = path.join(ROOT, 'docs', 'openapi.yaml');

function loadSpec(file = DEFAULT_SPEC) {
  const text = fs.readFileSync(file, 'utf8');
  const doc = YAML.parseDocument(text, { uniqueKeys: true, prettyErrors: true, schema: 'core' });
  if (doc.errors.length) {
    throw new Error(`${file}: ${doc.errors.map((e) => e.message).join('\n')}`);
  }
  return doc.toJS({ maxAliasCount: -1 });
}

// The operations of a spec: [{method: 'GET', path: '/v1/people/{id}', op}].
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
function operations(spec) {
  const out = [];
  for (const [p, item] of Object.entries(spec.paths || {})) {
    for (const m of METHODS) if (item[m]) out.push({ method: m.toUpperCase(), path: p, op: item[m], item });
  }
  return out;
}

module.exports = { ROOT, DEFAULT_SPEC, loadSpec, operations };
