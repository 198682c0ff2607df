// Everything generated code imports, without the client/server machinery (used by codegen tests).
export { T, ThriftException } from '../descriptors.js';
export type { ServiceDesc, StructDesc } from '../descriptors.js';
export type { CallOptions, ServerCallContext } from './runtime-types.js';
