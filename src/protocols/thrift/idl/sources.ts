import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { SyntaxType, type IncludeDefinition, type ThriftDocument } from '@creditkarma/thrift-parser';
import { idlError, parseThrift } from './parse.js';

export interface IdlLoadOptions {
  /** Extra directories searched for includes, after the including file's own directory (`-I`). */
  includeDirs?: readonly string[];
}

export interface ParsedFile {
  readonly path: string;
  readonly displayPath: string;
  readonly source: string;
  readonly doc: ThriftDocument;
  /** Absolute path of each include statement's target, in statement order. */
  readonly includes: Map<IncludeDefinition, string>;
}

/** Every file reachable from the main one, parsed, by absolute path. */
export type ParsedFiles = Map<string, ParsedFile>;

export function displayPathOf(abs: string): string {
  const rel = path.relative(process.cwd(), abs);
  return rel.length < abs.length && !rel.startsWith('..') ? rel : abs;
}

function locate(from: ParsedFile, inc: IncludeDefinition, includeDirs: readonly string[]): string {
  const name = inc.path.value;
  const dirs = path.isAbsolute(name) ? [''] : [path.dirname(from.path), ...includeDirs.map((d) => path.resolve(d))];
  for (const dir of dirs) {
    const candidate = path.resolve(dir, name);
    if (existsSync(candidate)) return candidate;
  }
  const searched = path.isAbsolute(name) ? '' : ` (searched ${dirs.map(displayPathOf).join(', ')})`;
  throw idlError(from.displayPath, inc.loc.start, `cannot find included file "${name}"${searched}`);
}

function parseFile(abs: string, source: string, includeDirs: readonly string[]): ParsedFile {
  const displayPath = displayPathOf(abs);
  const file: ParsedFile = { path: abs, displayPath, source, doc: parseThrift(source, displayPath), includes: new Map() };
  for (const stmt of file.doc.body) {
    if (stmt.type === SyntaxType.IncludeDefinition) file.includes.set(stmt, locate(file, stmt, includeDirs));
  }
  return file;
}

function readError(abs: string, err: unknown): Error {
  return idlError(displayPathOf(abs), undefined, `cannot read file: ${(err as Error).message}`);
}

export function readSourcesSync(mainPath: string, opts: IdlLoadOptions = {}): ParsedFiles {
  const files: ParsedFiles = new Map();
  const pending = [path.resolve(mainPath)];
  for (let abs = pending.pop(); abs !== undefined; abs = pending.pop()) {
    if (files.has(abs)) continue;
    let source: string;
    try {
      source = readFileSync(abs, 'utf8');
    } catch (err) {
      throw readError(abs, err);
    }
    const file = parseFile(abs, source, opts.includeDirs ?? []);
    files.set(abs, file);
    pending.push(...file.includes.values());
  }
  return files;
}

export async function readSources(mainPath: string, opts: IdlLoadOptions = {}): Promise<ParsedFiles> {
  const files: ParsedFiles = new Map();
  let wave = [path.resolve(mainPath)];
  while (wave.length > 0) {
    const todo = [...new Set(wave)].filter((p) => !files.has(p));
    const sources = await Promise.all(todo.map((abs) => readFile(abs, 'utf8').catch((err: unknown) => Promise.reject(readError(abs, err)))));
    wave = [];
    todo.forEach((abs, i) => {
      const file = parseFile(abs, sources[i]!, opts.includeDirs ?? []);
      files.set(abs, file);
      wave.push(...file.includes.values());
    });
  }
  return files;
}
