/**
 * scripts/pack-pg-tools.sh on this machine's Debian PostgreSQL binaries: the packed tools run with
 * only the packed lib/ on the library path, and every failure is a clear non-zero exit.
 */
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { TestPki } from '../support/test-pki';
import { runAsServerUser, serverUser, startEphemeralServer } from '../../lambda/shared/ephemeral-server';
import { withClient } from '../../lambda/shared/pg-client';

const SCRIPT = path.join(__dirname, '..', '..', 'scripts', 'pack-pg-tools.sh');
const PG_BIN = process.env.PGDR_TEST_PG_BIN ?? '/usr/lib/postgresql/15/bin';
const GLIBC = /^(ld-linux.*|linux-vdso.*|libc\.so\.6|libm\.so\.6|libmvec\.so\.1|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1|libutil\.so\.1|libanl\.so\.1|libresolv\.so\.2)$/;
const hasCommand = (c: string): boolean => spawnSync('sh', ['-c', `command -v ${c}`]).status === 0;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pgdr-pack-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function pack(args: string[]): { status: number | null; stderr: string } {
  const r = spawnSync('bash', [SCRIPT, ...args], { encoding: 'utf8' });
  return { status: r.status, stderr: r.stderr };
}

/** `ldd` of a packed file with only the packed lib/ on the library path: soname -> resolved path. */
function lddWithOnly(lib: string, file: string): Map<string, string> {
  const out = execFileSync('ldd', [file], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '', LD_LIBRARY_PATH: lib } });
  const map = new Map<string, string>();
  for (const line of out.split('\n')) {
    const m = /^\s*(\S+) => (\S+)/.exec(line);
    if (m) map.set(m[1], m[2]);
  }
  return map;
}

describe('pack-pg-tools.sh on the local Debian binaries', () => {
  const out = path.join(tmp, 'layer');
  let lib: string;

  beforeAll(() => {
    const r = pack(['--rpath', 'never', '--expect-major', '15', '--max-glibc', '2.34', PG_BIN, out]);
    if (r.status !== 0) throw new Error(`pack failed: ${r.stderr}`);
    lib = fs.realpathSync(path.join(out, 'lib'));
  });

  it('lays out bin/ with the three tools (and zstd when the host has it) and lib/ with their libraries', () => {
    const bins = fs.readdirSync(path.join(out, 'bin')).sort();
    expect(bins).toEqual(expect.arrayContaining(['pg_dump', 'pg_restore', 'psql']));
    expect(bins.includes('zstd')).toBe(hasCommand('zstd'));
    const libs = fs.readdirSync(lib);
    expect(libs).toEqual(expect.arrayContaining(['libpq.so.5', 'libssl.so.3', 'libcrypto.so.3', 'libgssapi_krb5.so.2', 'libz.so.1']));
    expect(libs.some((l) => l.startsWith('libldap'))).toBe(true);
    expect(libs).toContain('libreadline.so.8'); // psql
    // coreutils' libstdbuf.so (the dump job's stdout buffer for pg_dump), when the host has it.
    const hostStdbuf = ['/usr/libexec/coreutils/libstdbuf.so', '/usr/lib/coreutils/libstdbuf.so', '/usr/lib64/coreutils/libstdbuf.so'].find((f) => fs.existsSync(f));
    expect(libs.includes('libstdbuf.so')).toBe(hostStdbuf !== undefined);
    if (hostStdbuf) expect(fs.readFileSync(path.join(out, 'pg-tools.manifest'), 'utf8')).toContain(`stdbuf libstdbuf.so ${hostStdbuf}\n`);
    for (const b of bins) expect(fs.statSync(path.join(out, 'bin', b)).mode & 0o111).not.toBe(0);
  });

  it('never packs the loader or glibc (the Lambda runtime provides them)', () => {
    const libs = fs.readdirSync(lib);
    expect(libs.filter((l) => GLIBC.test(l))).toEqual([]);
    const manifest = fs.readFileSync(path.join(out, 'pg-tools.manifest'), 'utf8');
    expect(manifest).toMatch(/^excluded libc\.so\.6$/m);
    expect(manifest).toMatch(/^lib libpq\.so\.5 \//m);
  });

  it.each(['pg_dump', 'pg_restore', 'psql'])('packed %s --version runs with only the packed lib/ on the library path', (tool) => {
    const bin = path.join(out, 'bin', tool);
    const version = execFileSync(bin, ['--version'], { encoding: 'utf8', env: { LD_LIBRARY_PATH: lib } });
    expect(version).toMatch(new RegExp(`^${tool} \\(PostgreSQL\\) 15\\.`));

    // ldd with that library path: every library that is not glibc resolves inside lib/ ...
    const resolved = lddWithOnly(lib, bin);
    expect(resolved.get('libpq.so.5')).toBe(path.join(lib, 'libpq.so.5'));
    for (const [soname, where] of resolved) {
      if (GLIBC.test(soname)) expect(where.startsWith(lib + '/')).toBe(false);
      else expect({ soname, where: fs.realpathSync(where).startsWith(lib + '/') }).toEqual({ soname, where: true });
    }

    // ... and the real run loaded them from there (the loader's own trace of the process above).
    const trace = spawnSync(bin, ['--version'], { encoding: 'utf8', env: { LD_LIBRARY_PATH: lib, LD_DEBUG: 'libs' } }).stderr;
    const loaded = [...trace.matchAll(/calling init: (\S+)/g)].map((m) => m[1]);
    expect(loaded).toContain(path.join(lib, 'libpq.so.5'));
    for (const file of loaded) {
      if (!GLIBC.test(path.basename(file))) expect(file.startsWith(lib + '/')).toBe(true);
    }
  });

  it('takes the tool list as a parameter', () => {
    const r = pack(['--tools', 'pg_dump', PG_BIN, path.join(tmp, 'only-dump')]);
    expect(r.stderr).toMatch(/packed 1 tool/);
    expect(r.status).toBe(0);
    expect(fs.readdirSync(path.join(tmp, 'only-dump', 'bin'))).toEqual(['pg_dump']);
    expect(fs.readdirSync(path.join(tmp, 'only-dump', 'lib'))).not.toContain('libreadline.so.8');
  });

  (hasCommand('patchelf') ? it : it.skip)('with patchelf, the tools find lib/ through $ORIGIN/../lib without LD_LIBRARY_PATH', () => {
    const dir = path.join(tmp, 'rpath');
    const r = pack(['--rpath', 'always', '--tools', 'pg_dump', PG_BIN, dir]);
    expect(r.status).toBe(0);
    const rlib = fs.realpathSync(path.join(dir, 'lib'));
    const resolved = lddWithOnly('', path.join(dir, 'bin', 'pg_dump'));
    expect(fs.realpathSync(resolved.get('libpq.so.5')!)).toBe(path.join(rlib, 'libpq.so.5'));
  });
});

describe('pack-pg-tools.sh failures', () => {
  it('a missing tool: non-zero exit naming the tool, nothing half-packed left behind', () => {
    const dir = path.join(tmp, 'missing-tool');
    const r = pack(['--tools', 'pg_dump,pg_nosuch', PG_BIN, dir]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/error: tool 'pg_nosuch' not found: '.*\/pg_nosuch' is not an executable file/);
    expect(fs.existsSync(path.join(dir, 'bin'))).toBe(false);
  });

  it('a missing source directory', () => {
    const r = pack(['/nonexistent/pg/bin', path.join(tmp, 'x')]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/source bin directory '\/nonexistent\/pg\/bin' does not exist/);
  });

  (hasCommand('cc') ? it : it.skip)('a library ldd cannot resolve: non-zero exit naming the library', () => {
    const src = path.join(tmp, 'broken-src');
    fs.mkdirSync(src);
    fs.writeFileSync(path.join(src, 'gone.c'), 'int gone(void) { return 0; }\n');
    fs.writeFileSync(path.join(src, 'main.c'), 'int gone(void);\nint main(void) { return gone(); }\n');
    execFileSync('cc', ['-shared', '-fPIC', '-o', path.join(src, 'libpgdrgone.so.1'), '-Wl,-soname,libpgdrgone.so.1', path.join(src, 'gone.c')]);
    execFileSync('cc', ['-o', path.join(src, 'tool'), path.join(src, 'main.c'), path.join(src, 'libpgdrgone.so.1')]);
    fs.rmSync(path.join(src, 'libpgdrgone.so.1'));
    const r = pack(['--tools', 'tool', src, path.join(tmp, 'broken-out')]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/error: library not found for 'tool': libpgdrgone\.so\.1/);
  });

  it('a wrong major version', () => {
    const r = pack(['--expect-major', '16', '--tools', 'pg_dump', PG_BIN, path.join(tmp, 'wrong-major')]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/expected PostgreSQL major 16 but packed pg_dump reports 'pg_dump \(PostgreSQL\) 15\./);
  });

  it('a glibc newer than allowed, listing the files that need it', () => {
    const r = pack(['--max-glibc', '2.17', '--tools', 'pg_dump', PG_BIN, path.join(tmp, 'old-glibc')]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/needs a glibc newer than 2\.17: .*bin\/pg_dump\(GLIBC_2\.\d+\)/);
  });

  it('a non-empty output directory and bad arguments', () => {
    const dir = path.join(tmp, 'full');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'x'), '');
    expect(pack([PG_BIN, dir]).stderr).toMatch(/output directory '.*full' is not empty/);
    expect(pack([PG_BIN]).stderr).toMatch(/expected SOURCE_BIN_DIR and OUTPUT_DIR, got 1 argument/);
    expect(pack(['--rpath', 'sometimes', PG_BIN, path.join(tmp, 'y')]).stderr).toMatch(/--rpath must be auto, always or never, got 'sometimes'/);
  });
});

describe('pack-pg-tools.sh --ca-bundle (the RDS CA bundle, checked without openssl)', () => {
  const pki = new TestPki();
  let bundle: string;
  const pem = (file: string) => fs.readFileSync(file, 'utf8');
  beforeAll(() => {
    bundle = path.join(tmp, 'bundle.pem');
    fs.writeFileSync(bundle, pem(pki.ca('rds-root-a')) + pem(pki.ca('rds-root-b')) + pem(pki.ca('rds-root-c')));
  });
  afterAll(() => pki.remove());

  it('copies a valid bundle to share/pgdr/rds-global-bundle.pem and records it in the manifest', () => {
    const dir = path.join(tmp, 'with-ca');
    const r = pack(['--ca-bundle', bundle, '--tools', 'pg_dump', PG_BIN, dir]);
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: expect.stringMatching(/and 3 CA certificates into /) });
    const packed = path.join(dir, 'share', 'pgdr', 'rds-global-bundle.pem');
    expect(fs.readFileSync(packed)).toEqual(fs.readFileSync(bundle));
    expect(fs.statSync(packed).mode & 0o777).toBe(0o644);
    const sha = execFileSync('sha256sum', [bundle], { encoding: 'utf8' }).split(' ')[0];
    expect(fs.readFileSync(path.join(dir, 'pg-tools.manifest'), 'utf8')).toMatch(new RegExp(`^ca-bundle share/pgdr/rds-global-bundle\\.pem 3 certificates sha256 ${sha}$`, 'm'));
  });

  it('accepts CRLF line ends', () => {
    const crlf = path.join(tmp, 'crlf.pem');
    fs.writeFileSync(crlf, pem(bundle).replace(/\n/g, '\r\n'));
    expect(pack(['--ca-bundle', crlf, '--tools', 'pg_dump', PG_BIN, path.join(tmp, 'with-crlf')]).status).toBe(0);
  });

  const broken: Array<[string, () => string, RegExp]> = [
    ['is missing', () => path.join(tmp, 'nosuch.pem'), /nosuch\.pem' does not exist/],
    ['is empty', () => write('empty.pem', ''), /empty\.pem' is empty/],
    ['holds no certificate (an HTML error page)', () => write('html.pem', '<html><body>Access Denied</body></html>\n'), /holds no PEM certificate/],
    ['has a certificate cut short', () => write('cut.pem', pem(bundle).split('\n').filter((_, i) => i !== 3).join('\n')), /the certificate at line 1 is truncated or corrupt \(\d+ bytes, DER says \d+\)/],
    ['has no END line', () => write('open.pem', pem(bundle).replace(/-----END CERTIFICATE-----\n$/, '')), /the certificate at line \d+ has no END CERTIFICATE line/],
    ['has text that is not base64 inside a certificate', () => write('junk.pem', pem(bundle).replace(/^(-----BEGIN CERTIFICATE-----\n)/, '$1not base64!\n')), /line 2: not base64 inside the certificate of line 1/],
    ['is a private key', () => write('key.pem', pem(path.join(pki.dir, 'rds-root-a.key'))), /holds no PEM certificate/],
  ];
  it.each(broken)('a bundle that %s: non-zero exit naming the problem, nothing packed', (name, file, message) => {
    const dir = path.join(tmp, `bad-ca-${name.replace(/\W+/g, '-')}`);
    const r = pack(['--ca-bundle', file(), '--tools', 'pg_dump', PG_BIN, dir]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(new RegExp(`^pack-pg-tools: error: --ca-bundle '${tmp}/.*${message.source}`));
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(fs.existsSync(path.join(dir, 'bin')) || fs.existsSync(path.join(dir, 'share'))).toBe(false);
  });

  function write(name: string, text: string): string {
    const file = path.join(tmp, name);
    fs.writeFileSync(file, text);
    return file;
  }
});

describe('pack-pg-tools.sh --with-server (the ephemeral restore-test server)', () => {
  const out = path.join(tmp, 'with-server');
  let serverBin: string;

  beforeAll(() => {
    // When root, the server runs as the postgres OS user, which must reach the packed tree.
    fs.chmodSync(tmp, 0o755);
    const r = pack(['--with-server', '--expect-major', '15', PG_BIN, out]);
    if (r.status !== 0) throw new Error(`pack failed: ${r.stderr}`);
    serverBin = path.join(out, /^server-bin (.+)$/m.exec(fs.readFileSync(path.join(out, 'pg-tools.manifest'), 'utf8'))![1]);
  });

  it('lays out the server in the install relative layout, with its share/ and modules but no JIT', () => {
    const manifest = fs.readFileSync(path.join(out, 'pg-tools.manifest'), 'utf8');
    expect(manifest).toMatch(/^server-version postgres \(PostgreSQL\) 15\./m);
    expect(fs.readdirSync(serverBin).sort()).toEqual(['initdb', 'pg_ctl', 'postgres']);
    const sharedir = execFileSync(path.join(PG_BIN, 'pg_config'), ['--sharedir'], { encoding: 'utf8' }).trim();
    const pkglibdir = execFileSync(path.join(PG_BIN, 'pg_config'), ['--pkglibdir'], { encoding: 'utf8' }).trim();
    const packedShare = path.join(out, 'server', path.relative(path.join(PG_BIN, '../../../..'), sharedir));
    const packedLib = path.join(out, 'server', path.relative(path.join(PG_BIN, '../../../..'), pkglibdir));
    expect(fs.existsSync(path.join(packedShare, 'postgres.bki'))).toBe(true);
    const modules = fs.readdirSync(packedLib);
    expect(modules).toEqual(expect.arrayContaining(['plpgsql.so', 'dict_snowball.so']));
    expect(modules.filter((m) => m.startsWith('llvmjit') || m === 'bitcode')).toEqual([]);
    expect(fs.readdirSync(path.join(out, 'lib')).filter((l) => l.startsWith('libLLVM'))).toEqual([]);
  });

  it('the packed initdb reads the packed share/, and the packed server runs a restore target', async () => {
    const user = await serverUser();
    const shown = await runAsServerUser(user, path.join(serverBin, 'initdb'), ['--show', '-D', path.join(tmp, 'never-created')]);
    expect(shown).toMatch(new RegExp(`^share_path=${fs.realpathSync(out)}/server/`, 'm'));
    const server = await startEphemeralServer({ bin: serverBin, workDir: tmp, memoryMb: 64 });
    try {
      const version = await withClient(server.connection, async (c) => (await c.query<{ v: string }>('SELECT version() AS v')).rows[0].v);
      expect(version).toMatch(/^PostgreSQL 15\./);
      expect(fs.readFileSync(`/proc/${server.pid}/cmdline`, 'utf8').split('\0')[0]).toBe(path.join(serverBin, 'postgres'));
    } finally {
      await server.stop();
    }
  });

  it('a source without pg_config: non-zero exit saying what is missing, nothing packed', () => {
    const clientOnly = fs.mkdtempSync(path.join(tmp, 'client-only-'));
    for (const t of ['pg_dump', 'pg_restore', 'psql']) fs.symlinkSync(path.join(PG_BIN, t), path.join(clientOnly, t));
    const target = path.join(tmp, 'no-server');
    const r = pack(['--with-server', clientOnly, target]);
    expect(r.status).not.toBe(0);
    expect(r.stderr.trim()).toBe(`pack-pg-tools: error: --with-server needs pg_config in '${clientOnly}' (it names the server's share and lib directories)`);
    expect(fs.existsSync(path.join(target, 'bin'))).toBe(false);
  });
});
