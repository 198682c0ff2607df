/** Generates TypeScript for an IDL next to a usage file and type-checks both the way users do. */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateTypeScript } from '../../src/protocols/thrift/idl/index.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RUNTIME = path.join(ROOT, 'src/protocols/thrift/idl/runtime.js');

/** A fresh directory under test/.gen (the usage files import `../../../../src/...` from one level below). */
export const GEN_ROOT = (name: string): string => path.join(ROOT, 'test/.gen', `${name}-${randomBytes(4).toString('hex')}`);

/**
 * Writes the generated modules and `usage.ts` into `dir`, then runs `tsc --strict
 * --exactOptionalPropertyTypes` on them; returns tsc's output ('' when clean).
 */
export function typeCheck(dir: string, idl: string, usage: string): string {
  mkdirSync(dir, { recursive: true });
  const runtime = path.relative(dir, RUNTIME).split(path.sep).join('/');
  for (const [name, source] of generateTypeScript(idl, { runtime })) writeFileSync(path.join(dir, name), source);
  writeFileSync(path.join(dir, 'usage.ts'), usage);
  const tsconfig = { extends: path.relative(dir, path.join(ROOT, 'tsconfig.json')), compilerOptions: { strict: true, exactOptionalPropertyTypes: true }, include: ['*.ts'], exclude: [] };
  writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify(tsconfig));
  try {
    execFileSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', path.join(dir, 'tsconfig.json'), '--noEmit'], { cwd: ROOT, encoding: 'utf8' });
    return '';
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return `${e.stdout ?? ''}${e.stderr ?? ''}`;
  }
}
