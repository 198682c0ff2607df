// The queue suite over an SQS-compatible server (npm local-aws-sqs, in its own process), with the
// AWS SDK's own client as the foreign producer.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { openBackend } from '../../src/protocols/queue/registry.js';
import { startSqs, sqsAvailable, type SqsServer } from '../harness/sqs.js';
import { queueSuite, type RawSender } from './suite.js';

if (!sqsAvailable()) {
  describe('queue over sqs', () => it.skip('local-aws-sqs / @aws-sdk/client-sqs are not installed'));
} else {
  let sqs: SqsServer;
  let n = 0;
  before(async () => {
    sqs = await startSqs();
  });
  after(() => sqs.close());

  queueSuite({
    name: 'sqs',
    dest: (q) => sqs.dest(`${q}-${++n}`),
    raw: async (dest): Promise<RawSender> => {
      const b = await openBackend(dest); // creates the queue
      await b.close();
      const client = new SQSClient({ endpoint: sqs.endpoint, region: 'us-east-1' });
      const queueUrl = dest.replace(/^sqs\+/, '');
      return {
        send: async (body, attributes) => {
          const MessageAttributes: Record<string, { DataType: string; StringValue: string }> = {};
          for (const [k, v] of Object.entries(attributes)) MessageAttributes[k] = { DataType: 'String', StringValue: v };
          await client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body.toString('base64'), MessageAttributes }));
        },
        close: async () => client.destroy(),
      };
    },
    // local-aws-sqs answers a receive only when it has MaxNumberOfMessages or the wait ran out.
    serverOptions: { waitMs: 1000, pollers: 4 },
  });

  describe('sqs specifics', () => {
    it('a body that is not base64 is dead-lettered as not-thrift', async () => {
      const dest = sqs.dest(`b64-${++n}`);
      const b = await openBackend(dest);
      const client = new SQSClient({ endpoint: sqs.endpoint, region: 'us-east-1' });
      await client.send(
        new SendMessageCommand({ QueueUrl: dest.replace(/^sqs\+/, ''), MessageBody: 'plain text!', MessageAttributes: { 'scales.method': { DataType: 'String', StringValue: 'notify' } } }),
      );
      const [m] = await b.receive(1, 1000, 5000, new AbortController().signal);
      assert.equal(m?.body, undefined);
      client.destroy();
      await b.close();
    });
  });
}
