// A new user's first hour, as a test: the packed tarball installed into a fresh app (offline),
// code generated from an IDL with optional arguments, defaults, optional fields, an include and
// `extends`, type-checked with `tsc --strict --exactOptionalPropertyTypes` (the library's own
// .d.ts files included), then a server and a client run and the process exits without $close().
// The README's quick start is these very files (checked below), so it cannot drift from them.
// npm test builds dist/ before the tests; run alone, build it first (npm run build).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePort } from '../harness/ports.js';

const run = promisify(execFile);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const fixture = path.join(root, 'test/package/first-hour');
const tsc = path.join(root, 'node_modules/typescript/bin/tsc');
const DEPENDENCIES = ['@creditkarma/thrift-parser', '@msgpack/msgpack', 'undici'];

let tmp = '';
let app = '';
let packed: string[] = [];

before(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'scales-first-hour-'));
  app = path.join(tmp, 'app');
  const tarballs = path.join(tmp, 'tarballs');
  await mkdir(tarballs);
  // The package as npm would publish it (dist/ built by npm test), and its dependencies packed
  // from node_modules: `npm install --offline` then needs no registry (measured: ~8 s here).
  const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tarballs], { cwd: root, maxBuffer: 64 * 1024 * 1024 });
  const info = JSON.parse(stdout) as { files: { path: string }[] }[];
  packed = info[0]!.files.map((f) => f.path);
  for (const dep of DEPENDENCIES) await run('npm', ['pack', '--ignore-scripts', '--pack-destination', tarballs, path.join(root, 'node_modules', dep)], { cwd: root });
  await cp(fixture, app, { recursive: true });
  await writeFile(path.join(app, 'package.json'), JSON.stringify({ name: 'first-hour-app', version: '1.0.0', private: true, type: 'module' }));
  const all = (await readdir(tarballs)).filter((f) => f.endsWith('.tgz')).map((f) => path.join(tarballs, f));
  await run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', ...all], { cwd: app, timeout: 120_000 });
  await writeFile(
    path.join(app, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'es2022',
        module: 'nodenext',
        moduleResolution: 'nodenext',
        strict: true,
        exactOptionalPropertyTypes: true,
        noEmitOnError: true,
        outDir: 'out',
        rootDir: 'src',
        types: ['node'],
        typeRoots: [path.join(root, 'node_modules/@types')],
      },
      include: ['src/app.ts', 'src/extends.ts'],
    }),
  );
});

after(async () => {
  if (tmp !== '') await rm(tmp, { recursive: true, force: true });
});

/** tsc on the app: its errors as text ('' when clean). */
async function typeCheck(project: string): Promise<string> {
  try {
    await run(process.execPath, [tsc, '-p', project], { cwd: app });
    return '';
  } catch (err) {
    return String((err as { stdout?: string }).stdout ?? err);
  }
}

/** Runs a compiled app file; 'hung' when it does not exit on its own within `limitMs`. */
function runApp(file: string, limitMs = 20_000): Promise<{ code: number | 'hung'; output: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [file], { cwd: app, timeout: limitMs, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      const output = stdout + stderr;
      if (err !== null && (err as { killed?: boolean }).killed) resolve({ code: 'hung', output });
      else resolve({ code: child.exitCode ?? 1, output });
    });
  });
}

describe('the tarball', () => {
  test('ships the build, the bin, docs, README and LICENSE, and no source map pointing at unshipped sources', () => {
    for (const f of ['dist/index.js', 'dist/index.d.ts', 'dist/protocols/thrift/index.js', 'bin/scales.js', 'README.md', 'LICENSE', 'package.json', 'docs/server.md']) {
      assert.ok(packed.includes(f), `${f} is in the tarball`);
    }
    assert.deepEqual(
      packed.filter((f) => f.endsWith('.map')),
      [],
      'no .map files (their sources are not shipped)',
    );
  });

  test('package.json names the repository, and the README links work from the npm page', async () => {
    const pkg = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8')) as { repository?: { url?: string }; license?: string };
    assert.match(pkg.repository?.url ?? '', /^git\+https:\/\/github\.com\/.+\.git$/);
    assert.equal(pkg.license, 'Apache-2.0');
    assert.match(await readFile(path.join(root, 'LICENSE'), 'utf8'), /Apache License\s+Version 2\.0, January 2004/);
    const readme = await readFile(path.join(root, 'README.md'), 'utf8');
    const relative = [...readme.matchAll(/\]\((?!https?:\/\/|#)([^)]+)\)/g)].map((m) => m[1]);
    assert.deepEqual(relative, [], 'relative links break on the npm page: link to the repository');
  });

  test("the README's quick start is these files, and opens with install, not contributor set-up", async () => {
    const readme = await readFile(path.join(root, 'README.md'), 'utf8');
    for (const f of ['idl/store.thrift', 'src/app.ts']) {
      const text = (await readFile(path.join(fixture, f), 'utf8')).trimEnd();
      assert.ok(readme.includes(text), `README.md shows ${f} verbatim`);
    }
    const install = readme.indexOf('npm install scales-rpc');
    assert.ok(install > 0 && install < readme.indexOf('## Contributing'), 'install comes before the contributor section');
    assert.ok(readme.indexOf('npm test') > readme.indexOf('## Contributing'), 'npm test lives in the contributor section');
  });
});

describe('a fresh app', () => {
  test('generates, type-checks strictly, serves and calls, and exits without $close()', async () => {
    await run(path.join(app, 'node_modules/.bin/scales'), ['gen', 'idl/store.thrift', 'idl/admin.thrift', '-o', 'src/gen'], { cwd: app });
    // The README's fixed port, made free for this run.
    const appFile = path.join(app, 'src/app.ts');
    await writeFile(appFile, (await readFile(appFile, 'utf8')).replaceAll('9090', String(await freePort())));
    assert.equal(await typeCheck('tsconfig.json'), '');
    const r = await runApp('out/app.js');
    assert.equal(r.code, 0, r.output);
    assert.equal(r.output, '{"n":1} 60\nno entry nope\n');
    const e = await runApp('out/extends.js');
    assert.equal(e.code, 0, e.output);
    assert.match(e.output, /^extends ok: 0 entries, get -> NotFound\(x\)$/m);
  });

  test('optional arguments may be left out, defaulted fields are optional on write, optional fields take undefined', async () => {
    await writeFile(path.join(app, 'tsconfig.optional.json'), JSON.stringify({ extends: './tsconfig.json', include: ['src/optional.ts'] }));
    assert.equal(await typeCheck('tsconfig.optional.json'), '');
    const r = await runApp('out/optional.js');
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, /^optional ok: scan a limit=10 cursor=none; scan a limit=5 cursor=none; put ttl=3600; stats -1; k$/m);
  });
});
