// Aperture's expiry over real ThriftMux servers: a node that falls out of the window and stays
// idle has its session closed (Finagle's endpointIdleTime), the node it kept stays connected,
// and a later burst that widens the window reconnects to the others.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ThriftMux, type ClientControl } from '../../src/protocols/thriftmux/index.js';
import type { ThriftMuxServer } from '../../src/protocols/thriftmux/server.js';
import { EchoService, echoHandler, type EchoClient } from '../fixtures/echo-service.js';
import { until } from '../harness/wait.js';

describe('aperture closes idle sessions outside its window', () => {
  const servers: ThriftMuxServer[] = [];
  before(async () => {
    for (let i = 0; i < 3; i++) servers.push(await ThriftMux.serve(EchoService, echoHandler, { onError: false }));
  });
  after(async () => {
    for (const s of servers) await s.close();
  });
  const dest = (): string => `tcp://${servers.map((s) => `127.0.0.1:${s.port}`).join(',')}`;
  const connections = (): number[] => servers.map((s) => s.connections);

  // 60 calls of 20 ms at a time, until the smoothed load has widened the window to every node.
  const widen = async (client: EchoClient): Promise<void> => {
    for (let i = 0; i < 50 && !connections().every((c) => c === 1); i++) {
      await Promise.all(Array.from({ length: 60 }, (_, k) => client.echo(BigInt(k), 20, 'wide')));
    }
  };
  // One call at a time: the smoothed load per node falls to the band's floor and the window narrows to one node.
  const narrow = async (client: EchoClient, ms: number): Promise<void> => {
    const end = Date.now() + ms;
    while (Date.now() < end) await client.echo(1n, 0, 'narrow');
  };

  test('load opens a session to every node; once narrow, the two outside close; load reopens them', async () => {
    const client = ThriftMux.newClient(EchoService, dest(), { loadBalancer: { kind: 'aperture', smoothWindow: 50, jitter: 0, idleTime: 300 } }) as EchoClient & ClientControl;
    try {
      await widen(client);
      assert.deepEqual(connections(), [1, 1, 1], 'the load widened the window to every node');
      // Keep one node busy while the others sit idle past idleTime (checks run every 150 ms).
      await narrow(client, 800);
      await until('the two idle nodes outside the window are closed', () => connections().reduce((a, b) => a + b, 0) === 1, 10_000);
      const kept = connections().indexOf(1);
      await narrow(client, 300);
      assert.equal(connections()[kept], 1, 'the node in the window keeps its session');
      const scope = client.$stats.snapshot().scopes[Object.keys(client.$stats.snapshot().scopes).find((k) => k.startsWith('client='))!];
      assert.ok((scope?.counters['nodes_expired'] ?? 0) >= 2, 'the expiries are counted');
      await widen(client);
      assert.deepEqual(connections(), [1, 1, 1], 'load again reconnects');
    } finally {
      await client.$close();
    }
  });

  test('idleTime 0 keeps every session', async () => {
    const client = ThriftMux.newClient(EchoService, dest(), { loadBalancer: { kind: 'aperture', smoothWindow: 50, jitter: 0, idleTime: 0 } }) as EchoClient & ClientControl;
    try {
      await until('the last test’s sessions are gone', () => connections().every((c) => c === 0), 10_000);
      await widen(client);
      assert.deepEqual(connections(), [1, 1, 1]);
      await narrow(client, 800);
      assert.deepEqual(connections(), [1, 1, 1]);
      assert.match(client.$stack.describe(), /sessions outside it kept/);
    } finally {
      await client.$close();
    }
  });
});
