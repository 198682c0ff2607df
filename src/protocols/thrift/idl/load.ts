import { buildModule, type IdlModule } from './build.js';
import { resolveProgram } from './resolver.js';
import { readSources, readSourcesSync, type IdlLoadOptions } from './sources.js';

/**
 * Reads a .thrift file (and its includes) and returns its run-time descriptors. Bad IDL
 * (syntax, unknown types, duplicate ids, missing includes, include cycles) throws IdlError with
 * `file:line:column`.
 */
export async function loadIdl(path: string, opts: IdlLoadOptions = {}): Promise<IdlModule> {
  return buildModule(resolveProgram(await readSources(path, opts), path));
}

export function loadIdlSync(path: string, opts: IdlLoadOptions = {}): IdlModule {
  return buildModule(resolveProgram(readSourcesSync(path, opts), path));
}
