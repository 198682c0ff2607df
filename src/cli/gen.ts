import { readdirSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { generateTypeScript } from '../protocols/thrift/idl/generate.js';
import { DEFAULT_RUNTIME } from '../protocols/thrift/idl/codegen.js';
import { UsageError } from './usage.js';

export interface GenArgs {
  files: string[];
  outDir: string;
  includeDirs: string[];
  runtime: string;
}

export function parseGenArgs(argv: readonly string[]): GenArgs {
  const files: string[] = [];
  const includeDirs: string[] = [];
  let outDir: string | undefined;
  let runtime = DEFAULT_RUNTIME;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const value = (): string => {
      if (eq > 0) return arg.slice(eq + 1);
      if (flag.length > 2 && !flag.startsWith('--')) return flag.slice(2); // -Idir, -oout
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`option ${flag} needs a value`);
      return v;
    };
    if (flag === '-o' || flag === '--out' || (flag.startsWith('-o') && !flag.startsWith('--'))) outDir = value();
    else if (flag === '-I' || flag === '--include' || (flag.startsWith('-I') && !flag.startsWith('--'))) includeDirs.push(value());
    else if (flag === '--runtime') runtime = value();
    else if (arg.startsWith('-') && arg !== '-') throw new UsageError(`unknown option '${arg}' for gen`);
    else files.push(arg);
  }
  if (files.length === 0) throw new UsageError('gen needs at least one .thrift file or directory');
  if (outDir === undefined) throw new UsageError('gen needs an output directory (-o <dir>)');
  return { files, outDir, includeDirs, runtime };
}

/** The .thrift files an argument names: the file itself, or every .thrift file under a directory. */
export function expandInputs(inputs: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(p);
      else if (entry.name.endsWith('.thrift')) out.push(p);
    }
  };
  for (const input of inputs) {
    let isDir = false;
    try {
      isDir = statSync(input).isDirectory();
    } catch {
      // not there: generateTypeScript reports the missing file
    }
    if (!isDir) {
      out.push(input);
      continue;
    }
    const before = out.length;
    walk(input);
    if (out.length === before) throw new UsageError(`no .thrift files under ${input}`);
  }
  return out;
}

/** Generates every input (and its includes) and writes the modules; returns the paths written. */
export async function runGen(args: GenArgs): Promise<string[]> {
  const all = new Map<string, string>();
  for (const file of expandInputs(args.files)) {
    for (const [name, source] of generateTypeScript(file, { includeDirs: args.includeDirs, runtime: args.runtime })) {
      const prev = all.get(name);
      if (prev !== undefined && prev !== source) throw new Error(`two different .thrift files would both generate ${name}`);
      all.set(name, source);
    }
  }
  await mkdir(args.outDir, { recursive: true });
  const written: string[] = [];
  for (const [name, source] of all) {
    const target = path.join(args.outDir, name);
    await writeFile(target, source);
    written.push(target);
  }
  return written;
}
