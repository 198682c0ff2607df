// The layout is the design: generic folders never import a protocol, and the core entry point
// (`import 'scales-rpc'`) loads no protocol code. Read from the import statements themselves, so
// a new arrow back up into protocols/ fails here, not in review.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const src = path.join(root, 'src');
const GENERIC = ['core', 'client', 'server', 'session', 'resilience', 'balancer', 'pool', 'stats', 'transport', 'discovery'];

function filesUnder(dir: string): string[] {
  let out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out = out.concat(filesUnder(p));
    else if (/\.ts$/.test(name)) out.push(p);
  }
  return out;
}

/** Relative module specifiers of `import ... from`, `export ... from` and `import('...')`. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+['"]([^'"]+)['"]/g)) specs.push(m[1]!);
  for (const m of text.matchAll(/(?:^|\n)\s*import\s+['"]([^'"]+)['"]/g)) specs.push(m[1]!);
  for (const m of text.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)/g)) specs.push(m[1]!);
  return specs.filter((s) => s.startsWith('.'));
}

function resolveTs(from: string, spec: string): string {
  return path.resolve(path.dirname(from), spec).replace(/\.js$/, '.ts');
}

test('no generic folder imports from src/protocols/', () => {
  const offenders: string[] = [];
  for (const folder of GENERIC) {
    const dir = path.join(src, folder);
    let files: string[];
    try {
      files = filesUnder(dir);
    } catch {
      continue; // a folder that does not exist yet
    }
    for (const f of files) {
      for (const spec of importsOf(f)) {
        const target = path.relative(src, resolveTs(f, spec));
        if (target.startsWith(`protocols${path.sep}`)) offenders.push(`${path.relative(root, f)} -> src/${target}`);
      }
    }
  }
  assert.deepEqual(offenders, []);
});

test('the core entry point (src/index.ts) reaches no protocol module', () => {
  const seen = new Set<string>();
  const stack = [path.join(src, 'index.ts')];
  while (stack.length > 0) {
    const f = stack.pop()!;
    if (seen.has(f)) continue;
    seen.add(f);
    for (const spec of importsOf(f)) stack.push(resolveTs(f, spec));
  }
  const reached = [...seen].map((f) => path.relative(src, f)).filter((f) => f.startsWith(`protocols${path.sep}`));
  assert.deepEqual(reached, []);
  assert.ok(seen.size > 10, `walked ${seen.size} modules`); // the walk really followed imports
});

test('the checks above see a protocol import when there is one', () => {
  // The thrift client imports the client stack and its own codec: the walker must see both.
  const specs = importsOf(path.join(src, 'protocols', 'thrift', 'client.ts')).map((s) => path.relative(src, resolveTs(path.join(src, 'protocols', 'thrift', 'client.ts'), s)));
  assert.ok(specs.includes(path.join('client', 'stack.ts')), specs.join(', '));
  assert.ok(specs.includes(path.join('protocols', 'thrift', 'session.ts')), specs.join(', '));
});
