// CURVE: encryption with the server's key, an allow-list of client keys, and bad keys refused.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { curveKeyPair, ZeroRpc, type CurveKeyPair, type ZeroServer } from '../../src/protocols/zerorpc/index.js';
import { z85ToHex } from '../../src/protocols/zerorpc/curve.js';

describe('ZeroRPC over CURVE', () => {
  let serverKeys: CurveKeyPair;
  let allowed: CurveKeyPair;
  let stranger: CurveKeyPair;
  let open: ZeroServer;
  let guarded: ZeroServer;
  before(async () => {
    [serverKeys, allowed, stranger] = await Promise.all([curveKeyPair(), curveKeyPair(), curveKeyPair()]);
    open = await ZeroRpc.serve({ add: (a: number, b: number) => a + b }, { bind: 'tcp://127.0.0.1:*', curve: serverKeys, quiet: true });
    guarded = await ZeroRpc.serve({ add: (a: number, b: number) => a + b }, { bind: 'tcp://127.0.0.1:*', curve: { ...serverKeys, allow: [allowed.publicKey] }, quiet: true });
  });
  after(async () => {
    await open.close(100);
    await guarded.close(100);
  });

  const client = (s: ZeroServer, keys: CurveKeyPair, serverKey = serverKeys.publicKey) =>
    ZeroRpc.newBuilder({ connectTimeout: 1000, retries: false })
      .withCurve({ ...keys, serverKey })
      .build<{ add(a: number, b: number): number }>(s.endpoints[0]!);

  it('a client with the server key talks to a server without an allow-list', async () => {
    const c = client(open, stranger);
    assert.equal(await c.add(1, 2), 3);
    assert.match(c.$stack.describe(), /CURVE/);
    await c.$close();
  });

  it('the allow-list admits a listed client key', async () => {
    const c = client(guarded, allowed);
    assert.equal(await c.add(2, 3), 5);
    await c.$close();
  });

  it('the allow-list refuses another client key: connect fails, no call runs', async () => {
    const c = client(guarded, stranger);
    const err = (await c.add(1, 1).catch((e: unknown) => e)) as { code?: string };
    assert.ok(err.code === 'SCALES_ERR_CONNECT' || err.code === 'SCALES_ERR_CONNECT_TIMEOUT', String(err));
    await c.$close();
  });

  it('a wrong server key never completes the handshake', async () => {
    const c = client(open, allowed, stranger.publicKey);
    const err = (await c.add(1, 1).catch((e: unknown) => e)) as { code?: string };
    assert.ok(err.code === 'SCALES_ERR_CONNECT' || err.code === 'SCALES_ERR_CONNECT_TIMEOUT', String(err));
    await c.$close();
  });

  it('a plain client cannot talk to a CURVE server', async () => {
    const c = ZeroRpc.newBuilder({ connectTimeout: 500, retries: false }).build<{ add(a: number, b: number): number }>(open.endpoints[0]!);
    const err = (await c.add(1, 1).catch((e: unknown) => e)) as { code?: string };
    assert.notEqual(typeof err, 'number', 'the call must not succeed');
    assert.ok(typeof err.code === 'string', String(err));
    await c.$close();
  });

  it('Z85 keys decode to their 32 bytes', () => {
    // The Z85 spec's test vector: 86 4F D2 6F B5 59 F7 5B <-> "HelloWorld"
    assert.equal(z85ToHex('HelloWorld'.repeat(4)), '864fd26fb559f75b'.repeat(4));
    assert.throws(() => z85ToHex('short'));
  });
});
