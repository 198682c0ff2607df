// A small authoritative DNS server over UDP for tests: A, AAAA and SRV answers from a table the
// test edits, NXDOMAIN for unknown names, and SERVFAIL on demand (a broken resolver).
import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';

export interface Srv {
  priority: number;
  weight: number;
  port: number;
  target: string;
}

export interface DnsZone {
  a?: string[];
  aaaa?: string[];
  srv?: Srv[];
  ttl?: number;
}

export interface TestDnsServer {
  /** `127.0.0.1:port`, for `servers: [...]`. */
  readonly address: string;
  readonly zones: Map<string, DnsZone>;
  /** Answer SERVFAIL to everything while true. */
  failing: boolean;
  queries: number;
  close(): Promise<void>;
}

const TYPE = { A: 1, AAAA: 28, SRV: 33 } as const;

export async function startDnsServer(): Promise<TestDnsServer> {
  const sock = dgram.createSocket('udp4');
  const zones = new Map<string, DnsZone>();
  const state = { failing: false, queries: 0 };
  sock.on('message', (msg, rinfo) => {
    state.queries++;
    const reply = answer(msg, zones, state.failing);
    if (reply !== undefined) sock.send(reply, rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  return {
    address: `127.0.0.1:${sock.address().port}`,
    zones,
    get failing() {
      return state.failing;
    },
    set failing(v: boolean) {
      state.failing = v;
    },
    get queries() {
      return state.queries;
    },
    set queries(v: number) {
      state.queries = v;
    },
    close: () => new Promise((r) => sock.close(() => r())),
  };
}

function answer(q: Buffer, zones: Map<string, DnsZone>, failing: boolean): Buffer | undefined {
  if (q.length < 12) return undefined;
  const id = q.readUInt16BE(0);
  let off = 12;
  const labels: string[] = [];
  while (off < q.length && q[off] !== 0) {
    const len = q[off]!;
    labels.push(q.subarray(off + 1, off + 1 + len).toString('ascii'));
    off += 1 + len;
  }
  off++;
  const qtype = q.readUInt16BE(off);
  const question = q.subarray(12, off + 4);
  const name = labels.join('.').toLowerCase();
  const zone = zones.get(name);
  const records: Buffer[] = [];
  const ttl = zone?.ttl ?? 1;
  if (zone !== undefined && !failing) {
    if (qtype === TYPE.A) for (const a of zone.a ?? []) records.push(rr(TYPE.A, ttl, Buffer.from(a.split('.').map(Number))));
    if (qtype === TYPE.AAAA) for (const a of zone.aaaa ?? []) records.push(rr(TYPE.AAAA, ttl, ipv6Bytes(a)));
    if (qtype === TYPE.SRV) {
      for (const s of zone.srv ?? []) {
        const head = Buffer.alloc(6);
        head.writeUInt16BE(s.priority, 0);
        head.writeUInt16BE(s.weight, 2);
        head.writeUInt16BE(s.port, 4);
        records.push(rr(TYPE.SRV, ttl, Buffer.concat([head, encodeName(s.target)])));
      }
    }
  }
  const rcode = failing ? 2 : zone === undefined ? 3 : 0;
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(0x8000 | 0x0400 | (q.readUInt16BE(2) & 0x0100) | 0x0080 | rcode, 2); // QR AA RD(echo) RA
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(records.length, 6);
  return Buffer.concat([header, question, ...records]);
}

function rr(type: number, ttl: number, rdata: Buffer): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt16BE(0xc00c, 0); // the question's name
  b.writeUInt16BE(type, 2);
  b.writeUInt16BE(1, 4);
  b.writeUInt32BE(ttl, 6);
  b.writeUInt16BE(rdata.length, 10);
  return Buffer.concat([b, rdata]);
}

function encodeName(name: string): Buffer {
  const parts = name.replace(/\.$/, '').split('.');
  return Buffer.concat([...parts.map((p) => Buffer.concat([Buffer.from([p.length]), Buffer.from(p, 'ascii')])), Buffer.from([0])]);
}

function ipv6Bytes(a: string): Buffer {
  if (!isIPv6(a)) throw new Error(`not IPv6: ${a}`);
  const [head, tail] = a.split('::') as [string, string | undefined];
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const b = Buffer.alloc(16);
  for (let i = 0; i < groups.length; i++) b.writeUInt16BE(Number.parseInt(groups[i]!, 16), i * 2);
  return b;
}
