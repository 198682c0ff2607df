/**
 * Destination syntax, one scheme per broker; each backend module is imported on first use, so a
 * program that never names `sqs` never loads the AWS SDK.
 *
 *   redis://[user:pass@]host:port/<stream>[?db=N&group=G]     rediss:// for TLS
 *   sqs://<queue-name>[?region=R]          region and credentials from the AWS SDK's default chain
 *   sqs+http://host:port/<account>/<name>  a queue URL (local servers, VPC endpoints); sqs+https:// too
 *
 * Why these: a Redis URL is what every Redis client already takes, with the stream key as its
 * path (the place a database number would go: that moves to `?db=`); an SQS queue is named by its
 * queue URL, so the URL itself with a `sqs+` prefix names both the endpoint and the queue, and
 * `sqs://name` covers the common case of a queue in the default region.
 */
import { InvalidArgumentError } from '../../core/errors.js';
import type { BackendFactory, BackendOptions, QueueBackend } from './backend.js';

const factories = new Map<string, () => Promise<BackendFactory>>([
  ['redis', async () => (await import('./backends/redis.js')).openRedisBackend],
  ['rediss', async () => (await import('./backends/redis.js')).openRedisBackend],
  ['sqs', async () => (await import('./backends/sqs.js')).openSqsBackend],
  ['sqs+http', async () => (await import('./backends/sqs.js')).openSqsBackend],
  ['sqs+https', async () => (await import('./backends/sqs.js')).openSqsBackend],
  ['nats', async () => (await import('./backends/nats.js')).openNatsBackend],
]);

/** Adds a backend for `scheme` (e.g. 'amqp', 'nats'): `load` is called once, on first use. */
export function registerQueueBackend(scheme: string, load: () => Promise<BackendFactory>): void {
  if (!/^[a-z][a-z0-9+.-]*$/.test(scheme)) throw new InvalidArgumentError(`bad queue scheme '${scheme}'`);
  factories.set(scheme, load);
}

/** The scheme of a destination, checked. */
export function queueScheme(destination: string): string {
  const m = /^([a-z][a-z0-9+.-]*):\/\//i.exec(destination);
  const scheme = m?.[1]?.toLowerCase();
  if (scheme === undefined || !factories.has(scheme)) {
    throw new InvalidArgumentError(`queue destination '${redact(destination)}': expected one of ${[...factories.keys()].map((s) => `${s}://`).join(', ')}`);
  }
  return scheme;
}

/** Opens the backend a destination names. */
export async function openBackend(destination: string, options: BackendOptions = {}): Promise<QueueBackend> {
  const scheme = queueScheme(destination);
  let url: URL;
  try {
    url = new URL(destination);
  } catch (err) {
    throw new InvalidArgumentError(`queue destination '${redact(destination)}' is not a URL`, { cause: err });
  }
  const factory = await factories.get(scheme)!();
  return factory(url, destination, options);
}

/** The destination without its password, for messages and stats. */
export function redact(destination: string): string {
  return destination.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/@:]*:)[^/@]*@/i, '$1***@');
}
