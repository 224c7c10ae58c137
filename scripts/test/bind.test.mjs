import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { BindError, bindPlan, isLoopback, portFree, probeAddress } from '../lib/bind.mjs';

const exists = () => true;

describe('bindPlan: plain HTTP only on loopback', () => {
  it('defaults to http://localhost:8000 on 127.0.0.1', () => {
    expect(bindPlan({})).toMatchObject({ host: '127.0.0.1', port: 8000, scheme: 'http', tls: null });
    expect(bindPlan({}).url).toBe('http://localhost:8000');
  });

  it.each(['127.0.0.1', '127.5.5.5', 'localhost', '::1', '[::1]'])('allows plain HTTP on %s', (host) => {
    expect(bindPlan({ HOST: host }, exists).scheme).toBe('http');
  });

  it.each(['0.0.0.0', '192.168.1.10', '::', 'chat.example.org'])('refuses plain HTTP on %s', (host) => {
    expect(() => bindPlan({ HOST: host }, exists)).toThrow(BindError);
    expect(() => bindPlan({ HOST: host }, exists)).toThrow(
      /SECURE_DROP_TLS_CERT.*SECURE_DROP_BEHIND_TLS_PROXY/s,
    );
  });

  it('serves HTTPS elsewhere with a certificate and key', () => {
    const plan = bindPlan(
      { HOST: '0.0.0.0', PORT: '8443', SECURE_DROP_TLS_CERT: 'c.pem', SECURE_DROP_TLS_KEY: 'k.pem' },
      exists,
    );
    expect(plan).toMatchObject({
      scheme: 'https',
      tls: { cert: 'c.pem', key: 'k.pem' },
      url: 'https://0.0.0.0:8443',
    });
  });

  it('allows plain HTTP elsewhere only behind a declared TLS proxy', () => {
    expect(bindPlan({ HOST: '10.0.0.5', SECURE_DROP_BEHIND_TLS_PROXY: '1' }).behindProxy).toBe(true);
    expect(() => bindPlan({ HOST: '10.0.0.5', SECURE_DROP_BEHIND_TLS_PROXY: '0' })).toThrow(BindError);
  });

  it('refuses half a TLS configuration and missing files', () => {
    expect(() => bindPlan({ SECURE_DROP_TLS_CERT: 'c.pem' }, exists)).toThrow(/both/);
    expect(() =>
      bindPlan({ SECURE_DROP_TLS_CERT: 'c.pem', SECURE_DROP_TLS_KEY: 'k.pem' }, () => false),
    ).toThrow(/no file at c\.pem/);
  });

  it.each(['0', '65536', 'http', '80.5'])('refuses PORT=%s', (port) => {
    expect(() => bindPlan({ PORT: port })).toThrow(/PORT/);
  });
});

describe('helpers', () => {
  it('isLoopback', () => {
    expect(isLoopback('127.0.0.1')).toBe(true);
    expect(isLoopback('128.0.0.1')).toBe(false);
    expect(isLoopback('localhost.evil.example')).toBe(false);
  });

  it('probes wildcard binds on loopback', () => {
    expect(probeAddress('0.0.0.0')).toBe('127.0.0.1');
    expect(probeAddress('::')).toBe('[::1]');
    expect(probeAddress('fd00::5')).toBe('[fd00::5]');
    expect(probeAddress('10.0.0.5')).toBe('10.0.0.5');
  });
});

describe('portFree', () => {
  it('tells a busy port from a free one', async () => {
    const server = createServer();
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address();
    expect(await portFree('127.0.0.1', port)).toBe(false);
    await new Promise((r) => server.close(r));
    expect(await portFree('127.0.0.1', port)).toBe(true);
  });
});
