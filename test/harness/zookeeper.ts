/**
 * A real ZooKeeper (Debian's `zookeeper` 3.8, standalone `ZooKeeperServerMain`) for tests: its own
 * temp dir and free port, ready when `ruok` answers `imok`. `stop()` and `start()` again keep the
 * port and the data dir (sessions and ephemeral nodes survive, as in an ensemble restart);
 * `kill()` is a SIGKILL. `scripts/setup.sh` installs the package.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { freePort } from './ports.js';
import { startProcess, type ProcessHandle } from './process.js';
import { tempDir, type TempDir } from './tmp.js';

const JARS = ['/usr/share/java/zookeeper.jar', '/usr/share/java/zookeeper-jute.jar', '/usr/share/java/slf4j-api.jar', '/usr/share/java/slf4j-simple.jar'];

export interface ZooKeeperServer {
  readonly port: number;
  /** `127.0.0.1:port`, for `zk://${connectString}/path`. */
  readonly connectString: string;
  readonly dir: string;
  readonly running: boolean;
  /** Starts it again on the same port and data (after stop or kill). */
  start(): Promise<void>;
  /** SIGTERM, wait for exit. */
  stop(): Promise<void>;
  /** SIGKILL, wait for exit. */
  kill(): Promise<void>;
  /** Stops it and removes its dir. */
  close(): Promise<void>;
}

/** True when the Debian package is installed (tests skip with a reason otherwise). */
export function zooKeeperAvailable(): boolean {
  return existsSync(JARS[0]!) && existsSync('/usr/bin/java');
}

export async function startZooKeeper(options: { tickTimeMs?: number } = {}): Promise<ZooKeeperServer> {
  const dir: TempDir = tempDir('scales-zk');
  const port = await freePort();
  mkdirSync(join(dir.path, 'data'));
  const cfg = join(dir.path, 'zoo.cfg');
  writeFileSync(
    cfg,
    [
      `tickTime=${options.tickTimeMs ?? 2000}`,
      `dataDir=${join(dir.path, 'data')}`,
      `clientPort=${port}`,
      'clientPortAddress=127.0.0.1',
      'admin.enableServer=false',
      '4lw.commands.whitelist=ruok,srvr,stat,mntr,cons',
      // tests create many connections from one address
      'maxClientCnxns=0',
    ].join('\n'),
  );
  let proc: ProcessHandle | undefined;
  const cp = JARS.filter((j) => existsSync(j)).join(':');

  const launch = async (): Promise<void> => {
    proc = await startProcess({
      cmd: '/usr/bin/java',
      args: ['-Xmx256m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-Dzookeeper.jmx.log4j.disable=true', '-cp', cp, 'org.apache.zookeeper.server.ZooKeeperServerMain', cfg],
      cwd: dir.path,
      ready: { tcpPort: port, host: '127.0.0.1' },
      timeoutMs: 30_000,
      graceMs: 5000,
    });
    const deadline = Date.now() + 30_000;
    while ((await fourLetter(port, 'ruok').catch(() => '')) !== 'imok') {
      if (Date.now() > deadline) throw new Error(`ZooKeeper on ${port} never answered imok:\n${proc.tail(30)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  await launch();
  return {
    port,
    connectString: `127.0.0.1:${port}`,
    dir: dir.path,
    get running() {
      return proc !== undefined;
    },
    start: async () => {
      if (proc === undefined) await launch();
    },
    stop: async () => {
      const p = proc;
      proc = undefined;
      await p?.stop();
    },
    kill: async () => {
      const p = proc;
      proc = undefined;
      if (p === undefined) return;
      p.kill('SIGKILL');
      await p.exited;
    },
    close: async () => {
      const p = proc;
      proc = undefined;
      await p?.stop();
      dir.remove();
    },
  };
}

/** Sends a four-letter command (`ruok`, `stat`, `cons`...) and returns the whole answer. */
export function fourLetter(port: number, cmd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect({ port, host: '127.0.0.1' });
    let out = '';
    sock.setEncoding('utf8');
    sock.setTimeout(2000, () => sock.destroy(new Error(`${cmd}: no answer`)));
    sock.on('connect', () => sock.write(cmd));
    sock.on('data', (d: string) => (out += d));
    sock.on('end', () => resolve(out));
    sock.on('error', reject);
  });
}
