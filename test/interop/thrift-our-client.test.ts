// OUR client against real Apache Thrift servers (Python library, npm package): the same checks
// our own server passes (test/fixtures/rich-checks.ts), relaxed only where a peer documentedly
// cannot represent a value (test/peers/README.md).
import { after, before, describe, test } from 'node:test';
import { Thrift, type ClientControl } from '../../src/protocols/thrift/index.js';
import { richChecks } from '../fixtures/rich-checks.js';
import { RichService, type RichClient } from '../fixtures/rich-handler.js';
import { startApacheNodeServer, startPyServer, type PeerServer } from '../harness/peers.js';

const combos = [
  ['binary', 'framed'],
  ['compact', 'framed'],
  ['binary', 'buffered'],
  ['compact', 'buffered'],
] as const;

const peers = [
  ['Python', startPyServer, 'python'],
  ['Apache npm', startApacheNodeServer, 'apache-node'],
] as const;

for (const [peerName, start, profile] of peers) {
  for (const [protocol, transport] of combos) {
    describe(`Scales client -> ${peerName} server (${protocol}/${transport})`, () => {
      let server: PeerServer;
      let client: RichClient & ClientControl;
      before(async () => {
        server = await start({ protocol, transport });
        client = Thrift.newClient(RichService, `tcp://127.0.0.1:${server.port}`, { protocol, transport, timeout: 10_000 });
      });
      after(async () => {
        await client.$close();
        await server.stop();
      });
      for (const check of richChecks(profile)) test(check.name, () => check.run(client));
    });
  }
}
