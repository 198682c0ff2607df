// What every hostile case checks about the server process it attacks: alive, peak RSS under the
// bound, and a victim client on another connection still answered, with no failure.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startProcess, type ProcessHandle } from '../harness/process.js';
import { sleep } from '../harness/wait.js';
export { sleep };

export const MiB = 1024 * 1024;
export const RSS_LIMIT = 512 * MiB;

const SERVER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'server-process.ts');

/** Starts test/hostile/server-process.ts with a 1 GiB heap; `args` as it takes them. */
export function startHostileServer(args: string[]): Promise<ProcessHandle> {
  return startProcess({
    cmd: process.execPath,
    args: ['--max-old-space-size=1024', '--import', 'tsx', SERVER, ...args],
    ready: /^READY (\d+)/m,
    timeoutMs: 30_000,
  });
}

/** VmHWM (peak resident set) or VmRSS of a running process, in bytes. */
export function memory(proc: ProcessHandle, field: 'VmHWM' | 'VmRSS'): number {
  let status: string;
  try {
    status = readFileSync(`/proc/${proc.pid}/status`, 'utf8');
  } catch {
    assert.fail(`the server process is gone; its last output:\n${proc.tail(8)}`);
  }
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
  assert.ok(m !== null, `${field} of ${proc.pid}`);
  return Number(m[1]) * 1024;
}

/** Starts a case: the peak RSS (VmHWM) counts from now (writing 5 to clear_refs resets it). */
export function resetPeak(proc: ProcessHandle): void {
  writeFileSync(`/proc/${proc.pid}/clear_refs`, '5');
}

/** CPU time (user + system) a process has used, in ms. */
export function cpuMs(proc: ProcessHandle): number {
  const fields = readFileSync(`/proc/${proc.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime, stime in clock ticks (100/s)
}

/** A client on its own connection calling echo every 5 ms for as long as the suite runs. */
export class Victim {
  ok = 0;
  readonly failures: unknown[] = [];
  private stopped = false;
  private errLines = 0;
  private readonly loop: Promise<void>;

  constructor(
    private readonly proc: ProcessHandle,
    private readonly client: { echo(s: string): Promise<string>; $close(): Promise<void> },
  ) {
    this.loop = (async () => {
      for (let n = 0; !this.stopped; n++) {
        try {
          assert.equal(await client.echo(`v${n}`), `v${n}`);
          this.ok++;
        } catch (err) {
          this.failures.push(err);
        }
        await sleep(5);
      }
    })();
  }

  /** Server alive, peak RSS under the bound, the victim progressing with no failure; returns the server's new ERR lines. */
  async healthy(what: string): Promise<string[]> {
    const proc = this.proc;
    const before = this.ok;
    await sleep(50);
    for (let i = 0; i < 100 && this.ok === before; i++) await sleep(50);
    assert.equal(proc.child.exitCode, null, `${what}: the server is still running`);
    const peak = memory(proc, 'VmHWM');
    assert.ok(peak < RSS_LIMIT, `${what}: peak RSS ${(peak / MiB).toFixed(0)} MB stays under 512 MB`);
    assert.deepEqual(this.failures, [], `${what}: the other connection's calls all succeeded`);
    assert.ok(this.ok > before, `${what}: the other connection's calls kept being answered`);
    const lines = proc
      .output()
      .split('\n')
      .filter((l) => l.startsWith('ERR '));
    const fresh = lines.slice(this.errLines);
    this.errLines = lines.length;
    return fresh;
  }

  async close(): Promise<void> {
    this.stopped = true;
    await this.loop;
    await this.client.$close();
  }
}
