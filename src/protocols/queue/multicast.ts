/**
 * Multicast: one call delivered to every subscribing service.
 *
 * - Redis streams and NATS JetStream do it on the broker: each service consumes the same queue
 *   with its own `group` (a consumer group / a durable consumer); every group gets every message,
 *   the consumers inside one group share them. Nothing to build: `Queue.serve(..., { group: 'billing' })`.
 * - SQS has no fan-out of its own (that is SNS, which an SQS-only deployment lacks):
 *   `newFanoutClient` sends each call to several queues, one per subscribing service, and
 *   resolves when every queue has accepted it. This is producer-side and not atomic: if one queue
 *   refuses, the call fails (the error names the queues that refused) while the others already
 *   hold their copy; a retry duplicates those copies, which the idempotency key lets handlers
 *   recognise (the same key goes to every queue).
 */
import { randomUUID } from 'node:crypto';
import { currentContext, withContextValue } from '../../core/context.js';
import { InvalidArgumentError } from '../../core/errors.js';
import type { ServiceDesc } from '../thrift/descriptors.js';
import { newQueueClient, type QueueClientOptions } from './client.js';
import { IdempotencyKey } from './context.js';
import { redact } from './registry.js';
import { checkQueueable } from './thrift-body.js';

export interface FanoutClientControl {
  /** The destinations, in order (no credentials). */
  readonly $destinations: readonly string[];
  $close(): Promise<void>;
}

type AnyMethod = (...args: unknown[]) => Promise<void>;

/** A client whose every call goes to each destination (see above); any queue backend works. */
export function newFanoutClient<Client>(service: ServiceDesc<Client>, destinations: readonly string[], o: QueueClientOptions = {}): Client & FanoutClientControl {
  if (destinations.length === 0) throw new InvalidArgumentError('newFanoutClient: name at least one destination');
  checkQueueable(service as ServiceDesc, o.methods);
  const clients = destinations.map((d) => newQueueClient(service, d, o) as unknown as Record<string, AnyMethod> & { $close(): Promise<void> });
  const out: Record<string, unknown> = {
    $destinations: destinations.map(redact),
    $close: async () => void (await Promise.allSettled(clients.map((c) => c.$close()))),
  };
  for (const name of o.methods ?? Object.keys(service.methods)) {
    out[name] = (...args: unknown[]): Promise<void> => {
      // One idempotency key for every copy: handlers of a retried fan-out see the same key.
      const key = currentContext()?.values?.get(IdempotencyKey) ?? randomUUID();
      return withContextValue(IdempotencyKey, key, async () => {
        const results = await Promise.allSettled(clients.map((c) => c[name]!(...args)));
        const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [{ dest: redact(destinations[i]!), err: r.reason as Error }] : []));
        if (failed.length === 0) return;
        const first = failed[0]!.err;
        const accepted = destinations.length - failed.length;
        if (first instanceof Error) {
          first.message = `${first.message} (fan-out: ${failed.map((f) => f.dest).join(', ')} refused; ${accepted} of ${destinations.length} queues accepted the call)`;
        }
        throw first;
      });
    };
  }
  return out as Client & FanoutClientControl;
}
