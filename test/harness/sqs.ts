/**
 * An SQS-compatible server for tests: npm `local-aws-sqs` (a devDependency), in its own child
 * process on a free port so a test's load does not share its event loop. Its quirks (measured,
 * real SQS differs): a receive returns only when it has MaxNumberOfMessages or its wait ran out,
 * each receive costs at least a 10 ms tick, ChangeMessageVisibility counts as a receive, all in memory.
 */
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.js';
import { startProcess, type ProcessHandle } from './process.js';

export interface SqsServer {
  readonly port: number;
  /** `http://127.0.0.1:port` */
  readonly endpoint: string;
  /** The Scales destination of queue `name`: `sqs+http://127.0.0.1:port/123456789012/<name>`. */
  dest(name: string): string;
  close(): Promise<void>;
}

export function sqsAvailable(): boolean {
  try {
    fileURLToPath(import.meta.resolve('local-aws-sqs'));
    fileURLToPath(import.meta.resolve('@aws-sdk/client-sqs'));
    return true;
  } catch {
    return false;
  }
}

export async function startSqs(): Promise<SqsServer> {
  const port = await freePort();
  const script = `
    const { createSqsServer } = require('local-aws-sqs');
    createSqsServer({ port: ${port}, hostname: '127.0.0.1', emulateQueueCreationLifecycle: false })
      .then(() => console.log('sqs ready'), (e) => { console.error(e); process.exit(1); });
  `;
  const proc: ProcessHandle = await startProcess({
    cmd: process.execPath,
    args: ['-e', script],
    cwd: fileURLToPath(new URL('../..', import.meta.url)),
    ready: /sqs ready/,
    timeoutMs: 20_000,
    graceMs: 2000,
  });
  // The SDK wants credentials even for a local server.
  process.env['AWS_ACCESS_KEY_ID'] ??= 'test';
  process.env['AWS_SECRET_ACCESS_KEY'] ??= 'test';
  process.env['AWS_REGION'] ??= 'us-east-1';
  return {
    port,
    endpoint: `http://127.0.0.1:${port}`,
    dest: (name) => `sqs+http://127.0.0.1:${port}/123456789012/${name}`,
    close: async () => {
      await proc.stop();
    },
  };
}
