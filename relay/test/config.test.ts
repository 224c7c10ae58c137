import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import { processMaxConnections } from '../src/http/max-connections.js';

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'sd-relay-config-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const key = () => randomBytes(32).toString('base64');

describe('loadConfig', () => {
  it('uses documented defaults', () => {
    const c = loadConfig({ NODE_ENV: 'production', JWT_SECRET: key(), TOTP_ENCRYPTION_KEY: key() });
    expect(c.port).toBe(3000);
    expect(c.host).toBe('127.0.0.1');
    expect(c.trustProxy).toEqual(['loopback']);
    expect(c.databaseUrl).toBeUndefined();
    expect(c.retentionDays).toBe(30);
    expect(c.jwt.accessTtlSeconds).toBe(900);
    expect(c.dataDir.endsWith('.data')).toBe(true);
  });

  it('refuses missing secrets outside development', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(/JWT_SECRET is required/);
    expect(() => loadConfig({ NODE_ENV: 'test', JWT_SECRET: key() })).toThrow(
      /TOTP_ENCRYPTION_KEY is required/,
    );
  });

  it.each(['change-me', 'CHANGEME', 'placeholder', 'secret', 'xxxxxxxx'])(
    'refuses the placeholder %s',
    (value) => {
      expect(() =>
        loadConfig({ NODE_ENV: 'production', JWT_SECRET: value, TOTP_ENCRYPTION_KEY: key() }),
      ).toThrow(ConfigError);
    },
  );

  it('refuses short keys and a TOTP key that is not 32 bytes, without echoing them', () => {
    const short = randomBytes(16).toString('base64');
    let message = '';
    try {
      loadConfig({ NODE_ENV: 'production', JWT_SECRET: short, TOTP_ENCRYPTION_KEY: key() });
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/JWT_SECRET must decode to at least 32 bytes/);
    expect(message).not.toContain(short);
    expect(() =>
      loadConfig({
        NODE_ENV: 'production',
        JWT_SECRET: key(),
        TOTP_ENCRYPTION_KEY: randomBytes(48).toString('base64'),
      }),
    ).toThrow(/exactly|32 bytes/);
  });

  it('names every invalid variable', () => {
    expect(() => loadConfig({ NODE_ENV: 'staging', PORT: 'abc', DATABASE_URL: 'mysql://x' })).toThrow(
      /NODE_ENV[\s\S]*PORT[\s\S]*DATABASE_URL/,
    );
  });

  it('parses lists and never allows trust proxy to be `true`', () => {
    const c = loadConfig({
      NODE_ENV: 'test',
      JWT_SECRET: key(),
      TOTP_ENCRYPTION_KEY: key(),
      TRUST_PROXY: '10.0.0.0/8, 127.0.0.1',
      WS_ALLOWED_ORIGINS: 'https://drop.example',
    });
    expect(c.trustProxy).toEqual(['10.0.0.0/8', '127.0.0.1']);
    expect(c.wsAllowedOrigins).toEqual(['https://drop.example']);
    expect(
      loadConfig({ NODE_ENV: 'test', JWT_SECRET: key(), TOTP_ENCRYPTION_KEY: key(), TRUST_PROXY: '' })
        .trustProxy,
    ).toEqual([]);
  });

  it('takes HTTP_MAX_CONNECTIONS as given, or derives it from the open-file limit when unset', () => {
    const base = { NODE_ENV: 'test', JWT_SECRET: key(), TOTP_ENCRYPTION_KEY: key() };
    expect(loadConfig({ ...base, HTTP_MAX_CONNECTIONS: '3' }).httpMaxConnections).toBe(3);
    expect(loadConfig({ ...base, HTTP_MAX_CONNECTIONS: '1000000' }).httpMaxConnections).toBe(1_000_000);
    expect(loadConfig(base).httpMaxConnections).toBe(processMaxConnections());
    for (const bad of ['0', '-1', '1.5', 'many', '', '1000001']) {
      expect(() => loadConfig({ ...base, HTTP_MAX_CONNECTIONS: bad })).toThrow(/HTTP_MAX_CONNECTIONS/);
    }
  });

  it('generates development secrets into DATA_DIR once, mode 0600, and reuses them', () => {
    const dir = join(tempDir(), 'data');
    const a = loadConfig({ NODE_ENV: 'development', DATA_DIR: dir });
    const file = join(dir, 'secrets.json');
    expect(existsSync(file)).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const b = loadConfig({ NODE_ENV: 'development', DATA_DIR: dir });
    expect(Buffer.from(b.secrets.jwtKey).equals(Buffer.from(a.secrets.jwtKey))).toBe(true);
    expect(Buffer.from(b.secrets.totpKey).equals(Buffer.from(a.secrets.totpKey))).toBe(true);
    expect(a.secrets.totpKey.length).toBe(32);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toHaveProperty('JWT_SECRET');
  });

  it('prefers explicit secrets over generated ones in development', () => {
    const dir = tempDir();
    const jwt = key();
    const c = loadConfig({ NODE_ENV: 'development', DATA_DIR: dir, JWT_SECRET: jwt });
    expect(Buffer.from(c.secrets.jwtKey).toString('base64')).toBe(jwt);
  });

  describe('secrets from a file (<VAR>_FILE), in production and in development', () => {
    const secretFile = (value: string) => {
      const file = join(tempDir(), 'secret');
      writeFileSync(file, `${value}\n`, { mode: 0o600 });
      return file;
    };

    it('reads both keys from files, trailing newline removed', () => {
      const [jwt, totp] = [key(), key()];
      const c = loadConfig({
        NODE_ENV: 'production',
        JWT_SECRET_FILE: secretFile(jwt),
        TOTP_ENCRYPTION_KEY_FILE: secretFile(totp),
      });
      expect(Buffer.from(c.secrets.jwtKey).toString('base64')).toBe(jwt);
      expect(Buffer.from(c.secrets.totpKey).toString('base64')).toBe(totp);
    });

    it('in development, a TOTP key from outside DATA_DIR is never written into secrets.json', () => {
      const dir = join(tempDir(), 'data');
      const totp = key();
      const c = loadConfig({
        NODE_ENV: 'development',
        DATA_DIR: dir,
        TOTP_ENCRYPTION_KEY_FILE: secretFile(totp),
      });
      expect(Buffer.from(c.secrets.totpKey).toString('base64')).toBe(totp);
      const stored = JSON.parse(readFileSync(join(dir, 'secrets.json'), 'utf8'));
      expect(Object.keys(stored)).toEqual(['JWT_SECRET']);
      expect(readFileSync(join(dir, 'secrets.json'), 'utf8')).not.toContain(totp);
      // …and from the environment the same way.
      const dir2 = join(tempDir(), 'data');
      loadConfig({ NODE_ENV: 'development', DATA_DIR: dir2, TOTP_ENCRYPTION_KEY: totp });
      expect(Object.keys(JSON.parse(readFileSync(join(dir2, 'secrets.json'), 'utf8')))).toEqual([
        'JWT_SECRET',
      ]);
    });

    it('in development, with both keys given, nothing is written into DATA_DIR', () => {
      const dir = join(tempDir(), 'data');
      loadConfig({
        NODE_ENV: 'development',
        DATA_DIR: dir,
        JWT_SECRET_FILE: secretFile(key()),
        TOTP_ENCRYPTION_KEY: key(),
      });
      expect(existsSync(join(dir, 'secrets.json'))).toBe(false);
    });

    it('a generated development key is kept when the other is later given from outside', () => {
      const dir = join(tempDir(), 'data');
      const first = loadConfig({ NODE_ENV: 'development', DATA_DIR: dir });
      const later = loadConfig({ NODE_ENV: 'development', DATA_DIR: dir, JWT_SECRET: key() });
      expect(Buffer.from(later.secrets.totpKey).equals(Buffer.from(first.secrets.totpKey))).toBe(true);
      expect(statSync(join(dir, 'secrets.json')).mode & 0o777).toBe(0o600);
    });

    it('refuses a variable and its _FILE together, a missing file and an empty one, without echoing a value', () => {
      const totp = key();
      const cases: [Record<string, string>, RegExp][] = [
        [
          { TOTP_ENCRYPTION_KEY: totp, TOTP_ENCRYPTION_KEY_FILE: secretFile(totp) },
          /set TOTP_ENCRYPTION_KEY or TOTP_ENCRYPTION_KEY_FILE, not both/,
        ],
        [
          { TOTP_ENCRYPTION_KEY_FILE: join(tempDir(), 'absent') },
          /TOTP_ENCRYPTION_KEY_FILE: cannot read .*absent \(ENOENT\)/,
        ],
        [{ TOTP_ENCRYPTION_KEY_FILE: secretFile('') }, /TOTP_ENCRYPTION_KEY_FILE: .* is empty/],
        [{ TOTP_ENCRYPTION_KEY_FILE: secretFile('c2hvcnQ=') }, /TOTP_ENCRYPTION_KEY must decode to 32 bytes/],
      ];
      for (const [env, expected] of cases) {
        let message = '';
        try {
          loadConfig({ NODE_ENV: 'development', DATA_DIR: tempDir(), JWT_SECRET: key(), ...env });
        } catch (err) {
          expect(err).toBeInstanceOf(ConfigError);
          message = (err as Error).message;
        }
        expect(message).toMatch(expected);
        expect(message).not.toContain(totp);
      }
    });
  });
});
