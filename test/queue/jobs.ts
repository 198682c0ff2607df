/** The test service, loaded from jobs.thrift. */
import { fileURLToPath } from 'node:url';
import type { ServiceDesc } from '../../src/protocols/thrift/descriptors.js';
import { loadIdlSync } from '../../src/protocols/thrift/idl/index.js';

export const JOBS_IDL = fileURLToPath(new URL('./jobs.thrift', import.meta.url));
const idl = loadIdlSync(JOBS_IDL);

export interface JobsClient {
  notify(id: bigint, payload: string, options?: { timeout?: number }): Promise<void>;
  work(id: bigint, sleepMs: number, payload: string, options?: { timeout?: number }): Promise<void>;
}
export interface JobsHandler {
  notify(id: bigint, payload: string, ctx?: unknown): void | Promise<void>;
  work(id: bigint, sleepMs: number, payload: string, ctx?: unknown): void | Promise<void>;
}

export const Jobs = idl.services['Jobs'] as ServiceDesc<JobsClient, JobsHandler>;
export const Mixed = idl.services['Mixed'] as ServiceDesc;
export const Refused = idl.structs['Refused']!;
