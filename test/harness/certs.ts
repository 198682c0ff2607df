/**
 * Certificates for TLS tests, made with Debian's `openssl` in a temp dir: a CA, a server
 * certificate (SAN 127.0.0.1, ::1 and localhost), a second server certificate for reload tests,
 * an expired server certificate, a client certificate, and an unrelated CA with its own client
 * and server certificates (the "wrong CA" cases).
 *
 *   const certs = makeCerts(); after(() => certs.remove());
 *   serveThrift(S, h, { tls: { certFile: certs.server.cert, keyFile: certs.server.key } });
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './tmp.js';

/** File paths of one certificate and its key. */
export interface CertFiles {
  readonly cert: string;
  readonly key: string;
}

export interface TestCerts {
  readonly dir: string;
  /** The trusted CA (its cert and key files). */
  readonly ca: CertFiles;
  /** Signed by `ca`, SAN 127.0.0.1, ::1, localhost; CN scales-server. */
  readonly server: CertFiles;
  /** Signed by `ca` too, CN scales-server-2 (what a hot reload switches to). */
  readonly server2: CertFiles;
  /** Signed by `ca`, SAN only `other.example`: a server-name mismatch for 127.0.0.1/localhost. */
  readonly serverOtherName: CertFiles;
  /** Signed by `ca` with validity in the past. */
  readonly serverExpired: CertFiles;
  /** Signed by `ca`, clientAuth; CN scales-client. */
  readonly client: CertFiles;
  /** A CA nobody trusts, and a client and a server certificate it signed. */
  readonly otherCa: CertFiles;
  readonly otherClient: CertFiles;
  readonly otherServer: CertFiles;
  /** PEM text of a file. */
  pem(path: string): string;
  remove(): void;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Generates every certificate (about a second: EC keys). */
export function makeCerts(): TestCerts {
  const tmp = tempDir('scales-certs');
  const dir = tmp.path;
  const p = (name: string): string => join(dir, name);
  const key = (name: string): string => {
    openssl(dir, ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', p(`${name}.key`)]);
    return p(`${name}.key`);
  };
  const ca = (name: string): CertFiles => {
    const k = key(name);
    openssl(dir, [
      'req',
      '-x509',
      '-new',
      '-key',
      k,
      '-sha256',
      '-days',
      '30',
      '-subj',
      `/CN=${name}`,
      '-out',
      p(`${name}.crt`),
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    return { cert: p(`${name}.crt`), key: k };
  };
  const leaf = (name: string, issuer: CertFiles, ext: string): CertFiles => {
    const k = key(name);
    openssl(dir, ['req', '-new', '-key', k, '-subj', `/CN=${name}`, '-out', p(`${name}.csr`)]);
    writeFileSync(p(`${name}.ext`), ext);
    const ca = ['-CA', issuer.cert, '-CAkey', issuer.key, '-CAcreateserial'];
    openssl(dir, ['x509', '-req', '-in', p(`${name}.csr`), ...ca, '-sha256', '-days', '30', '-extfile', p(`${name}.ext`), '-out', p(`${name}.crt`)]);
    return { cert: p(`${name}.crt`), key: k };
  };
  const serverExt = (names: string): string => `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=${names}\n`;
  // Apache's TSSLServerSocket matches a client certificate against the client's address: SANs too.
  const clientExt = 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n';
  const sans = 'IP:127.0.0.1,IP:::1,DNS:localhost';

  const trusted = ca('scales-test-ca');
  const other = ca('scales-other-ca');
  const certs: TestCerts = {
    dir,
    ca: trusted,
    server: leaf('scales-server', trusted, serverExt(sans)),
    server2: leaf('scales-server-2', trusted, serverExt(sans)),
    serverOtherName: leaf('scales-other-name', trusted, serverExt('DNS:other.example')),
    serverExpired: expired(dir, 'scales-expired', trusted, serverExt(sans)),
    client: leaf('scales-client', trusted, clientExt),
    otherCa: other,
    otherClient: leaf('scales-other-client', other, clientExt),
    otherServer: leaf('scales-other-server', other, serverExt(sans)),
    pem: (path) => readFileSync(path, 'utf8'),
    remove: () => tmp.remove(),
  };
  return certs;
}

/**
 * A certificate whose validity ended yesterday: `openssl ca` with explicit -startdate/-enddate
 * (plain `x509 -req` cannot date a certificate in the past before OpenSSL 3.4).
 */
function expired(dir: string, name: string, issuer: CertFiles, ext: string): CertFiles {
  const p = (f: string): string => join(dir, f);
  openssl(dir, ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', p(`${name}.key`)]);
  openssl(dir, ['req', '-new', '-key', p(`${name}.key`), '-subj', `/CN=${name}`, '-out', p(`${name}.csr`)]);
  writeFileSync(p(`${name}.ext`), ext);
  writeFileSync(p('index.txt'), '');
  writeFileSync(p('serial'), '1000\n');
  writeFileSync(
    p('ca.cnf'),
    `[ca]\ndefault_ca=test\n[test]\ndir=${dir}\ndatabase=${p('index.txt')}\nserial=${p('serial')}\nnew_certs_dir=${dir}\ndefault_md=sha256\npolicy=any\nunique_subject=no\ncopy_extensions=none\n[any]\ncommonName=supplied\n`,
  );
  const day = (offsetDays: number): string => {
    const d = new Date(Date.now() + offsetDays * 86_400_000);
    return `${d.toISOString().slice(0, 10).replaceAll('-', '').slice(2)}000000Z`;
  };
  openssl(dir, [
    'ca',
    '-batch',
    '-config',
    p('ca.cnf'),
    '-cert',
    issuer.cert,
    '-keyfile',
    issuer.key,
    '-in',
    p(`${name}.csr`),
    '-out',
    p(`${name}.crt`),
    '-startdate',
    day(-10),
    '-enddate',
    day(-1),
    '-extfile',
    p(`${name}.ext`),
    '-notext',
  ]);
  return { cert: p(`${name}.crt`), key: p(`${name}.key`) };
}
