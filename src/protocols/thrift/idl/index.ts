export { loadIdl, loadIdlSync } from './load.js';
export { generateTypeScript, type GenerateOptions } from './generate.js';
export type { IdlModule, ThriftExceptionClass } from './build.js';
export type { IdlLoadOptions } from './sources.js';
export { DEFAULT_RUNTIME, type CodegenOptions } from './codegen.js';
