// The two call types generated code needs besides the descriptors. They live in core and are
// already exported by src/protocols/thrift/index.ts; this file only lets codegen tests point at a
// small runtime barrel (runtime.ts) instead of the whole Thrift entry point.
export type { CallOptions } from '../../../core/context.js';
export type { ServerCallContext } from '../../../core/server-context.js';
