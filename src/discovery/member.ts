import type { TcpEndpoint } from './endpoint.js';

/**
 * A serverset member record, as Finagle, Aurora and scales write it into a `member_` znode
 * (Finagle's `ServiceInstance`): UTF-8 JSON with `serviceEndpoint`, `additionalEndpoints`,
 * `status`, and optionally `shard` and `metadata`.
 */
export interface MemberRecord {
  readonly serviceEndpoint: TcpEndpoint;
  readonly additionalEndpoints: Readonly<Record<string, TcpEndpoint>>;
  readonly status: MemberStatus;
  readonly shard?: number;
  readonly metadata?: Readonly<Record<string, string>>;
}

/** Finagle's `Status`: only ALIVE members take traffic. */
export type MemberStatus = 'DEAD' | 'STARTING' | 'ALIVE' | 'STOPPING' | 'STOPPED' | 'WARNING';

const STATUSES: ReadonlySet<string> = new Set(['DEAD', 'STARTING', 'ALIVE', 'STOPPING', 'STOPPED', 'WARNING']);

/** What one member's data means for a client that routes to `endpointName` (or the service endpoint). */
export type MemberReading =
  /** Route to `endpoint`. */
  | { readonly kind: 'alive'; readonly endpoint: TcpEndpoint; readonly shard: number | undefined }
  /** A valid record whose status is not ALIVE: no traffic, no warning. */
  | { readonly kind: 'not-alive'; readonly status: MemberStatus }
  /** Malformed, or lacks the named endpoint: skipped with a warning saying why. */
  | { readonly kind: 'bad'; readonly reason: string };

/**
 * Reads one member's data. Never throws: a bad record is one skipped member, never a failed set.
 * Finagle's reader takes only integer ports; a string port is a bad record here too.
 */
export function readMember(data: Uint8Array | null | undefined, endpointName?: string): MemberReading {
  if (data === null || data === undefined || data.length === 0) return { kind: 'bad', reason: 'no data' };
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8'));
  } catch (err) {
    return { kind: 'bad', reason: `not JSON (${(err as Error).message})` };
  }
  if (!isObject(json)) return { kind: 'bad', reason: 'not a JSON object' };
  const status = json['status'];
  if (typeof status !== 'string' || !STATUSES.has(status)) return { kind: 'bad', reason: `bad status ${JSON.stringify(status)}` };
  const service = readEndpoint(json['serviceEndpoint']);
  if (typeof service === 'string') return { kind: 'bad', reason: `serviceEndpoint: ${service}` };
  const additional = json['additionalEndpoints'] ?? {};
  if (!isObject(additional)) return { kind: 'bad', reason: 'additionalEndpoints is not an object' };
  const shard = json['shard'];
  if (shard !== undefined && shard !== null && !Number.isInteger(shard)) return { kind: 'bad', reason: `bad shard ${JSON.stringify(shard)}` };
  let endpoint = service;
  if (endpointName !== undefined) {
    if (!(endpointName in additional)) return { kind: 'bad', reason: `no additional endpoint '${endpointName}'` };
    const named = readEndpoint(additional[endpointName]);
    if (typeof named === 'string') return { kind: 'bad', reason: `additionalEndpoints.${endpointName}: ${named}` };
    endpoint = named;
  }
  if (status !== 'ALIVE') return { kind: 'not-alive', status: status as MemberStatus };
  return { kind: 'alive', endpoint, shard: typeof shard === 'number' ? shard : undefined };
}

/** The endpoint, or why it is not one. */
function readEndpoint(v: unknown): TcpEndpoint | string {
  if (!isObject(v)) return 'not an object';
  const host = v['host'];
  const port = v['port'];
  if (typeof host !== 'string' || host === '') return `bad host ${JSON.stringify(host)}`;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) return `bad port ${JSON.stringify(port)}`;
  return { host, port };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The record exactly as Finagle's announcer writes it: compact JSON, keys in this order, `shard`
 * always (0 by default), `metadata` only when non-empty, no nulls.
 */
export function formatMember(record: {
  serviceEndpoint: TcpEndpoint;
  additionalEndpoints?: Readonly<Record<string, TcpEndpoint>>;
  status?: MemberStatus;
  shard?: number;
  metadata?: Readonly<Record<string, string>>;
}): Buffer {
  const ep = (e: TcpEndpoint) => ({ host: e.host, port: e.port });
  const additional: Record<string, { host: string; port: number }> = {};
  for (const [name, e] of Object.entries(record.additionalEndpoints ?? {})) additional[name] = ep(e);
  const out: Record<string, unknown> = {
    serviceEndpoint: ep(record.serviceEndpoint),
    additionalEndpoints: additional,
    status: record.status ?? 'ALIVE',
    shard: record.shard ?? 0,
  };
  if (record.metadata !== undefined && Object.keys(record.metadata).length > 0) out['metadata'] = { ...record.metadata };
  return Buffer.from(JSON.stringify(out), 'utf8');
}
