// Serverset member records: what a client routes to, what it skips and why, and the exact bytes
// an announcer writes (Finagle's key order, shard always, no nulls).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatMember, readMember } from '../../src/discovery/member.js';
import { parseZkUri } from '../../src/discovery/zk/uri.js';

const b = (s: string) => Buffer.from(s);

describe('readMember', () => {
  test('an ALIVE Finagle record routes to its service endpoint, or to the named one', () => {
    const rec = b('{"serviceEndpoint":{"host":"10.0.0.5","port":9090},"additionalEndpoints":{"http":{"host":"10.0.0.5","port":8080}},"status":"ALIVE","shard":3}');
    assert.deepEqual(readMember(rec), { kind: 'alive', endpoint: { host: '10.0.0.5', port: 9090 }, shard: 3 });
    assert.deepEqual(readMember(rec, 'http'), { kind: 'alive', endpoint: { host: '10.0.0.5', port: 8080 }, shard: 3 });
  });

  test('a status other than ALIVE is no traffic, not an error', () => {
    for (const status of ['DEAD', 'STARTING', 'STOPPING', 'STOPPED', 'WARNING']) {
      assert.deepEqual(readMember(b(`{"serviceEndpoint":{"host":"h","port":1},"additionalEndpoints":{},"status":"${status}"}`)), { kind: 'not-alive', status });
    }
  });

  test('bad records say why', () => {
    const cases: [string, RegExp, string?][] = [
      ['{not json', /not JSON/],
      ['[1,2]', /not a JSON object/],
      ['{"serviceEndpoint":{"host":"h","port":"9090"},"additionalEndpoints":{},"status":"ALIVE"}', /bad port "9090"/],
      ['{"serviceEndpoint":{"host":"h","port":70000},"additionalEndpoints":{},"status":"ALIVE"}', /bad port 70000/],
      ['{"serviceEndpoint":{"port":1},"additionalEndpoints":{},"status":"ALIVE"}', /bad host/],
      ['{"serviceEndpoint":{"host":"h","port":1},"additionalEndpoints":{},"status":"alive"}', /bad status/],
      ['{"serviceEndpoint":{"host":"h","port":1},"additionalEndpoints":{}}', /bad status/],
      ['{"serviceEndpoint":{"host":"h","port":1},"additionalEndpoints":{},"status":"ALIVE"}', /no additional endpoint 'http'/, 'http'],
      ['{"serviceEndpoint":{"host":"h","port":1},"additionalEndpoints":{"http":{"host":"h","port":1.5}},"status":"ALIVE"}', /additionalEndpoints.http: bad port/, 'http'],
      ['{"serviceEndpoint":{"host":"h","port":1},"additionalEndpoints":{},"status":"ALIVE","shard":"x"}', /bad shard/],
      ['', /no data/],
    ];
    for (const [text, why, name] of cases) {
      const r = readMember(b(text), name);
      assert.equal(r.kind, 'bad', text);
      assert.match((r as { reason: string }).reason, why, text);
    }
    assert.equal(readMember(null).kind, 'bad');
  });
});

describe('formatMember', () => {
  test("writes Finagle's exact bytes: key order, shard 0 by default, no metadata when empty", () => {
    assert.equal(
      formatMember({ serviceEndpoint: { host: '10.0.0.5', port: 9090 } }).toString(),
      '{"serviceEndpoint":{"host":"10.0.0.5","port":9090},"additionalEndpoints":{},"status":"ALIVE","shard":0}',
    );
    assert.equal(
      formatMember({ serviceEndpoint: { scheme: 'tcp', host: 'a', port: 1 }, additionalEndpoints: { http: { host: 'a', port: 2 } }, shard: 3, metadata: { zone: 'x' } }).toString(),
      '{"serviceEndpoint":{"host":"a","port":1},"additionalEndpoints":{"http":{"host":"a","port":2}},"status":"ALIVE","shard":3,"metadata":{"zone":"x"}}',
    );
    assert.equal(formatMember({ serviceEndpoint: { host: 'a', port: 1 }, metadata: {} }).toString(), '{"serviceEndpoint":{"host":"a","port":1},"additionalEndpoints":{},"status":"ALIVE","shard":0}');
  });

  test('what it writes reads back', () => {
    const data = formatMember({ serviceEndpoint: { host: 'a', port: 1 }, additionalEndpoints: { admin: { host: 'a', port: 9 } }, shard: 2 });
    assert.deepEqual(readMember(data, 'admin'), { kind: 'alive', endpoint: { host: 'a', port: 9 }, shard: 2 });
  });
});

describe('parseZkUri', () => {
  test('ensemble, path, #name and chroot', () => {
    assert.deepEqual(parseZkUri('zk://zk1:2181,zk2:2181/aurora/prod/users'), {
      connectString: 'zk1:2181,zk2:2181',
      path: '/aurora/prod/users',
      endpointName: undefined,
      raw: 'zk://zk1:2181,zk2:2181/aurora/prod/users',
    });
    assert.equal(parseZkUri('zk://zk1:2181/a/b/#http').endpointName, 'http');
    assert.equal(parseZkUri('zk://zk1:2181/a/b/#http').path, '/a/b');
    assert.equal(parseZkUri('zk://zk1:2181/a?chroot=/prod').connectString, 'zk1:2181/prod');
    assert.equal(parseZkUri('zk://[::1]:2181/a').connectString, '[::1]:2181');
  });

  test('bad URIs are InvalidArgumentErrors', () => {
    for (const bad of ['zk://zk1:2181', 'zk://zk1:2181/', 'zk:///a', 'zk://zk1/a', 'zk://zk1:2181/a//b', 'zk://zk1:2181/a/../b', 'zk://zk1:2181/a#']) {
      assert.throws(() => parseZkUri(bad), { code: 'SCALES_ERR_INVALID_ARGUMENT' }, bad);
    }
  });
});
