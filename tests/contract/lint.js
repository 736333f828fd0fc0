'use strict';
// Lints docs/openapi.yaml with Redocly's rules (@redocly/openapi-core, the
// engine of `redocly lint`; its CLI needs node >= 20.19, Debian 12 has 18)
// and the configuration in redocly.yaml. Exit 1 on any problem.
// Usage: node lint.js [SPEC.yaml]
const path = require('path');
const { lint, loadConfig, formatProblems, getTotals } = require('@redocly/openapi-core');
const { DEFAULT_SPEC, loadSpec, operations } = require('./spec');

// Operations exempt from operation-4xx-response: they take no input.
const NO_4XX = new Set(['/healthz', '/readyz', '/metrics', '/openapi.json']);

async function main() {
  const spec = process.argv[2] || DEFAULT_SPEC;
  const config = await loadConfig({ configPath: path.join(__dirname, 'redocly.yaml') });
  const problems = await lint({ ref: spec, config });
  const totals = getTotals(problems);
  if (problems.length) formatProblems(problems, { format: 'stylish', totals, version: 'openapi-core' });
  // operation-4xx-response, with its exemptions (redocly.yaml says why).
  let own = 0;
  for (const o of operations(loadSpec(spec))) {
    if (NO_4XX.has(o.path) || Object.keys(o.op.responses || {}).some((s) => /^4/.test(s))) continue;
    console.log(`error: ${o.method} ${o.path} declares no 4XX response (operation-4xx-response)`);
    own++;
  }
  console.log(`lint: ${spec}: ${totals.errors + own} errors, ${totals.warnings} warnings`);
  process.exit(totals.errors + totals.warnings + own ? 1 : 0);
}
main().catch((e) => {
  console.error(`lint: ${e.stack || e}`);
  process.exit(1);
});
