/**
 * What TLS costs a Thrift echo: calls/s over one pipelined connection (100 in flight, 100-byte
 * payload), plain TCP vs TLS 1.3 vs mTLS, the server in its own process; and CPU µs per call of
 * the client and of the server (less sensitive than calls/s to a loaded machine). Rounds are
 * interleaved and the best of each kind is reported.
 *   npx tsx bench/tls.ts
 *   BENCH_SECONDS=2 BENCH_ROUNDS=1 npx tsx bench/tls.ts
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Thrift } from '../src/protocols/thrift/index.js';
import { EchoService } from '../test/fixtures/echo-service.js';
import { makeCerts, type TestCerts } from '../test/harness/certs.js';

type Kind = 'plain' | 'tls' | 'mtls';
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const IN_FLIGHT = 100;
const PAYLOAD = 'x'.repeat(100);

async function serverMain(kind: Kind, dir: string): Promise<void> {
  const f = (n: string): string => `${dir}/${n}`;
  const tls = kind === 'plain' ? undefined : { certFile: f('scales-server.crt'), keyFile: f('scales-server.key'), ...(kind === 'mtls' ? { caFile: f('scales-test-ca.crt'), requestCert: true } : {}) };
  const server = await Thrift.serve(EchoService, { echo: (id, _d, payload) => ({ id, payload }) }, { tls });
  console.log(`READY ${server.port}`);
}

/** CPU µs a process has used (Linux: utime + stime from /proc, in clock ticks of 10 ms). */
function cpuUsOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

interface Sample {
  rate: number;
  clientUs: number;
  serverUs: number;
}

async function startServer(kind: Kind, certs: TestCerts): Promise<{ port: number; pid: number; stop(): void }> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), 'server', kind, certs.dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  for await (const line of lines) {
    const m = /^READY (\d+)$/.exec(line);
    if (m) return { port: Number(m[1]), pid: child.pid!, stop: () => child.kill() };
  }
  throw new Error('server did not start');
}

async function measure(kind: Kind, certs: TestCerts): Promise<Sample> {
  const server = await startServer(kind, certs);
  const tls = kind === 'plain' ? undefined : { caFile: certs.ca.cert, ...(kind === 'mtls' ? { certFile: certs.client.cert, keyFile: certs.client.key } : {}) };
  const client = Thrift.newClient(EchoService, `tcp://127.0.0.1:${server.port}`, { tls, poolSize: 1, timeout: 10_000 });
  try {
    let calls = 0;
    let counting = false;
    let stop = false;
    const worker = async (): Promise<void> => {
      while (!stop) {
        await client.echo(1n, 0, PAYLOAD);
        if (counting) calls++;
      }
    };
    const workers = Array.from({ length: IN_FLIGHT }, worker);
    await new Promise((r) => setTimeout(r, 1000)); // warm-up (JIT, the handshake)
    counting = true;
    const started = performance.now();
    const cpu0 = process.cpuUsage();
    const server0 = cpuUsOf(server.pid);
    await new Promise((r) => setTimeout(r, SECONDS * 1000));
    const n = calls;
    const cpu = process.cpuUsage(cpu0);
    const serverUs = cpuUsOf(server.pid) - server0;
    const rate = n / ((performance.now() - started) / 1000);
    stop = true;
    await Promise.all(workers);
    return { rate, clientUs: (cpu.user + cpu.system) / n, serverUs: serverUs / n };
  } finally {
    await client.$close();
    server.stop();
  }
}

async function main(): Promise<void> {
  if (process.argv[2] === 'server') return serverMain(process.argv[3] as Kind, process.argv[4]!);
  const certs = makeCerts();
  const worst: Sample = { rate: 0, clientUs: Infinity, serverUs: Infinity };
  const best: Record<Kind, Sample> = { plain: { ...worst }, tls: { ...worst }, mtls: { ...worst } };
  try {
    for (let r = 0; r < ROUNDS; r++) {
      for (const kind of ['plain', 'tls', 'mtls'] as const) {
        const s = await measure(kind, certs);
        const b = best[kind];
        best[kind] = { rate: Math.max(b.rate, s.rate), clientUs: Math.min(b.clientUs, s.clientUs), serverUs: Math.min(b.serverUs, s.serverUs) };
      }
    }
  } finally {
    certs.remove();
  }
  const p = best.plain;
  console.log(`| Thrift echo, 1 connection, ${IN_FLIGHT} in flight, ${PAYLOAD.length} B | calls/s | vs plain | client CPU µs/call | server CPU µs/call |`);
  console.log('|---|---|---|---|---|');
  for (const kind of ['plain', 'tls', 'mtls'] as const) {
    const b = best[kind];
    console.log(`| ${kind} | ${Math.round(b.rate).toLocaleString('en')} | ${(b.rate / p.rate).toFixed(2)} | ${b.clientUs.toFixed(2)} | ${b.serverUs.toFixed(2)} |`);
  }
}

await main();
