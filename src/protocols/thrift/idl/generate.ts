import { emitProgram, type CodegenOptions } from './codegen.js';
import { resolveProgram } from './resolver.js';
import { readSourcesSync, type IdlLoadOptions } from './sources.js';

export interface GenerateOptions extends CodegenOptions, IdlLoadOptions {}

/**
 * TypeScript for a .thrift file and everything it includes: one module per .thrift file, keyed
 * by its output file name (`rich.ts`, `shared.ts`). Throws IdlError for bad IDL.
 */
export function generateTypeScript(idlPath: string, opts: GenerateOptions = {}): Map<string, string> {
  return emitProgram(resolveProgram(readSourcesSync(idlPath, opts), idlPath), opts);
}
