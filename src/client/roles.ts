/**
 * The names of the client's roles, top to bottom. Edits name roles by these constants
 * (`s.insertAfter(Role.retries, mine)`), so a typo is a compile error rather than a
 * "no stack role" at build time.
 */
export const Role = {
  stats: 'stats',
  timeout: 'timeout',
  retries: 'retries',
  hedging: 'hedging',
  serializer: 'serializer',
  /** Topology: a load balancer over a live set, one endpoint stack per endpoint. */
  loadbalancer: 'loadbalancer',
  /** Topology: exactly one endpoint (drivers that own the topology: a queue, a Kafka producer). */
  endpoint: 'endpoint',
  failureAccrual: 'failure-accrual',
  pool: 'pool',
  transport: 'transport',
} as const;

export type RoleName = (typeof Role)[keyof typeof Role];

/** What the typed proxy sends: decoded calls (Thrift's `{method, args}`, an HTTP request). */
export const CALL = 'service<call>';
/** A protocol's encoded messages, below its serializer. */
export const WIRE = 'service<wire>';
/** Opens sessions to one endpoint (what a pool needs). */
export const CONNECTOR = 'connector';
