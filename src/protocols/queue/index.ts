/**
 * One-way RPC through a message queue (docs/queue.md):
 *   const client = Queue.newClient(EmailService, 'redis://127.0.0.1:6379/emails');
 *   await client.send(to, body);                     // resolves once the broker has the message
 *   const consumer = await Queue.serve(EmailService, handler, 'redis://127.0.0.1:6379/emails');
 */
import type { ClientControl } from '../../client/proxy.js';
import type { ServiceDesc } from '../thrift/descriptors.js';
import { newQueueClient, type QueueClientOptions } from './client.js';
import { type QueueServer, type QueueServerOptions, serveQueue } from './server.js';

export const Queue = {
  newClient<Client>(service: ServiceDesc<Client>, dest: string, options?: QueueClientOptions): Client & ClientControl {
    return newQueueClient(service, dest, options);
  },
  serve<Handler extends object>(service: ServiceDesc<unknown, Handler>, handler: Handler, dest: string, options?: QueueServerOptions): Promise<QueueServer> {
    return serveQueue(service, handler, dest, options);
  },
};

export { newQueueClient, DEFAULT_MAX_BODY_BYTES, type QueueClientOptions } from './client.js';
export { serveQueue, QUEUE_SERVER_DEFAULTS, type QueueServer, type QueueServerOptions, type QueueCounts } from './server.js';
export { DEFAULT_PRODUCER_LIMITS, type ProducerLimits } from './producer.js';
export type { QueueBackend, QueueStats, DeadLetter, BackendOptions, BackendFactory } from './backend.js';
export { DEAD_LETTER_SUFFIX } from './backend.js';
export { ATTRIBUTE_NAMES, attemptOf, attributeFields, parseAttributes } from './envelope.js';
export type { MessageAttributes, OutgoingMessage, ReceivedMessage, DeadLetterReason, ContentType } from './envelope.js';
export { openBackend, registerQueueBackend, queueScheme, redact } from './registry.js';
export { QueueTraceId, QueueDeadline, IdempotencyKey, QueueAttempt, QueueMessageId } from './context.js';
export { brokerError, asBrokerError, type BrokerFailure } from './errors.js';
export { encodeCallBody, decodeCallBody, checkQueueable, whyNotQueueable } from './thrift-body.js';
/** Reads a value the request carried (`receivedValue(ctx, QueueAttempt)`); the same function as `scales-rpc/thriftmux`'s. */
export { receivedValue } from '../thriftmux/values.js';
export { newFanoutClient, type FanoutClientControl } from './multicast.js';
