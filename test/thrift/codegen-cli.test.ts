/** The `scales` command end to end (through tsx, so dist/ need not be built) and in process. */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { main, type CliIo } from '../../src/cli/main.js';
import { generateTypeScript } from '../../src/protocols/thrift/idl/index.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TSX = path.join(ROOT, 'node_modules/tsx/dist/cli.mjs');
const tmp = mkdtempSync(path.join(tmpdir(), 'scales-cli-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function cli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [TSX, 'src/cli/main.ts', ...args], { cwd: ROOT, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function capture(): CliIo & { out_: string; err_: string } {
  const io = { out_: '', err_: '', out: (t: string) => void (io.out_ += t), err: (t: string) => void (io.err_ += t) };
  return io;
}

test('scales gen writes one module per .thrift file (includes via -I), same as generateTypeScript', () => {
  const out = path.join(tmp, 'out');
  const r = cli('gen', 'test/fixtures/idl/edge/edge.thrift', 'test/fixtures/idl/rich.thrift', '-I', 'test/fixtures/idl/edge/inc', '-o', out, '--runtime', 'my-runtime');
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(readdirSync(out).sort(), ['base.ts', 'edge.ts', 'rich.ts', 'shared.ts']);
  assert.match(r.stdout, /wrote .*rich\.ts/);
  const expected = generateTypeScript(path.join(ROOT, 'test/fixtures/idl/rich.thrift'), { runtime: 'my-runtime' });
  assert.equal(readFileSync(path.join(out, 'rich.ts'), 'utf8'), expected.get('rich.ts'));
  assert.match(
    readFileSync(path.join(out, 'edge.ts'), 'utf8'),
    /from 'my-runtime';\nimport type \{ CallOptions, ServerCallContext, ServiceDesc, StructDesc \} from 'my-runtime';\nimport \* as base from '\.\/base\.js';/,
  );
});

test('scales gen: bad IDL prints "scales: file:line: message" and exits 1', () => {
  const bad = path.join(tmp, 'bad.thrift');
  writeFileSync(bad, 'struct A {\n  1: Nope x,\n}\n');
  const r = cli('gen', bad, '-o', path.join(tmp, 'never'));
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^scales: .*bad\.thrift:2:\d+: unknown type 'Nope'\n$/);
  assert.equal(r.stdout, '');
  assert.equal(existsSync(path.join(tmp, 'never')), false, 'nothing written on error');
});

test('unknown command: usage on stderr, exit 2', () => {
  const r = cli('frobnicate');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /^scales: unknown command 'frobnicate'\n\nUsage: scales <command>/);
});

test('--help, --version and usage errors (in process)', async () => {
  let io = capture();
  assert.equal(await main(['--help'], io), 0);
  assert.match(io.out_, /scales gen|gen <file\.thrift\.\.\.> -o <outDir>/);
  io = capture();
  assert.equal(await main(['--version'], io), 0);
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
  assert.equal(io.out_, `${pkg.version}\n`);
  io = capture();
  assert.equal(await main(['gen', 'x.thrift'], io), 2);
  assert.match(io.err_, /^scales: gen needs an output directory \(-o <dir>\)/);
  io = capture();
  assert.equal(await main(['gen', '-o', tmp], io), 2);
  assert.match(io.err_, /needs at least one \.thrift file/);
  io = capture();
  assert.equal(await main(['gen', 'x.thrift', '-o', tmp, '--bogus'], io), 2);
  assert.match(io.err_, /unknown option '--bogus'/);
  io = capture();
  assert.equal(await main(['gen', path.join(tmp, 'missing.thrift'), '-o', tmp], io), 1);
  assert.match(io.err_, /^scales: .*missing\.thrift: cannot read file/);
});

test('scales gen accepts a directory: every .thrift file under it', async () => {
  const dir = path.join(tmp, 'idl-dir');
  const out = path.join(tmp, 'out-dir');
  mkdirSync(path.join(dir, 'nested'), { recursive: true });
  copyFileSync(path.join(ROOT, 'test/fixtures/idl/rich.thrift'), path.join(dir, 'rich.thrift'));
  copyFileSync(path.join(ROOT, 'test/fixtures/idl/shared.thrift'), path.join(dir, 'shared.thrift'));
  copyFileSync(path.join(ROOT, 'test/fixtures/idl/optional-args.thrift'), path.join(dir, 'nested/optional-args.thrift'));
  writeFileSync(path.join(dir, 'README.md'), 'not IDL');
  const r = cli('gen', dir, '-o', out);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(readdirSync(out).sort(), ['optional-args.ts', 'rich.ts', 'shared.ts']);
  const empty = path.join(tmp, 'empty-dir');
  mkdirSync(empty);
  const io = capture();
  assert.equal(await main(['gen', empty, '-o', out], io), 2);
  assert.match(io.err_, /no \.thrift files under .*empty-dir/);
});
