/**
 * Runs the Debian `thrift` compiler (Apache 0.17) for the real peers. Output is cached under the OS
 * tmpdir keyed by a hash of the language, the compiler version and every IDL file reached through
 * `include`, so repeated tests (and parallel test processes) generate once.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** 'py' for the Python library; 'js:node,ts,es6' for the npm package (plain js:node crashes on thrift.Q). */
export type ThriftLang = 'py' | 'js:node,ts,es6';

export const GEN_CACHE_ROOT = join(tmpdir(), 'scales-thrift-gen');

let compilerVersion: Promise<string> | undefined;

function thriftVersion(): Promise<string> {
  compilerVersion ??= run('thrift', ['--version']).then(
    (r) => r.stdout.trim(),
    (err: Error) => {
      throw new Error(`the Debian thrift compiler is required (apt-get install thrift-compiler): ${err.message}`);
    },
  );
  return compilerVersion;
}

/** The IDL and everything it includes (resolved like the compiler: own dir first, then -I dirs). */
function idlClosure(idl: string, includeDirs: readonly string[]): string[] {
  const seen = new Set<string>();
  const visit = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/^\s*include\s+"([^"]+)"/gm)) {
      const name = m[1] as string;
      const found = [dirname(file), ...includeDirs].map((d) => resolve(d, name)).find((p) => existsSync(p));
      if (found) visit(found);
    }
  };
  visit(resolve(idl));
  return [...seen].sort();
}

/**
 * Generates code for `idl` and returns the directory holding it: the cache directory itself, or
 * `outDir` (a copy of it) when given. Python output is importable with that dir on sys.path; JS
 * output is CommonJS that needs `thrift` and `node-int64` resolvable (set NODE_PATH).
 */
export async function generateThrift(lang: ThriftLang, idl: string, outDir?: string, includeDirs: readonly string[] = []): Promise<string> {
  const version = await thriftVersion();
  const hash = createHash('sha256').update(`${lang}\0${version}\0`);
  for (const file of idlClosure(idl, includeDirs)) hash.update(`${file}\0`).update(readFileSync(file)).update('\0');
  const key = hash.digest('hex').slice(0, 24);
  const cached = join(GEN_CACHE_ROOT, `${lang.split(':')[0]}-${key}`);

  if (!existsSync(join(cached, '.complete'))) {
    mkdirSync(GEN_CACHE_ROOT, { recursive: true });
    const staging = `${cached}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
    mkdirSync(staging, { recursive: true });
    try {
      const incs = includeDirs.flatMap((d) => ['-I', d]);
      await run('thrift', ['--gen', lang, '-r', ...incs, '-out', staging, resolve(idl)]);
      if (lang.startsWith('js')) {
        // Generated JS is CommonJS; never let an enclosing package.json say "type": "module".
        writeFileSync(join(staging, 'package.json'), '{"type": "commonjs"}\n');
      }
      writeFileSync(join(staging, '.complete'), '');
      try {
        renameSync(staging, cached); // atomic: a parallel test process may have won the race
      } catch {
        rmSync(staging, { recursive: true, force: true });
      }
    } catch (err) {
      rmSync(staging, { recursive: true, force: true });
      const e = err as Error & { stdout?: string; stderr?: string };
      const said = [e.stderr, e.stdout]
        .map((s) => s?.trim())
        .filter(Boolean)
        .join('\n'); // errors go to stdout
      throw new Error(`thrift --gen ${lang} ${idl} failed: ${said || e.message}`);
    }
  }
  if (outDir === undefined) return cached;
  cpSync(cached, outDir, { recursive: true });
  return outDir;
}
