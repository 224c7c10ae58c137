import { createServer as createHttpServer, request } from 'node:http';
import { createServer } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import {
  BindError,
  bindPlan,
  holdLoopbackV6,
  isLoopback,
  namesLocalhostOverIpv4,
  portFree,
  probeAddress,
} from '../lib/bind.mjs';

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

// Attack: `npm start` prints http://localhost:PORT and serves on 127.0.0.1 only, and a browser
// tries localhost's [::1] first. A program listening on [::1]:PORT — before the run, or taken
// during it — got every request (logins, tokens), while the run's checks, all on 127.0.0.1,
// found nothing wrong.
describe('[::1] of a run named localhost', () => {
  const listen = (server, host, port = 0) =>
    new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port, exclusive: true, ipv6Only: host === '::1' }, () =>
        resolve(server.address().port),
      );
    });
  const close = (server) => new Promise((r) => server.close(() => r()));
  const get = (url) =>
    new Promise((resolve, reject) => {
      const req = request(url, { headers: { connection: 'close' } }, (res) => {
        let body = '';
        res.on('data', (c) => {
          body += c;
        });
        res.on('end', () => resolve(body));
      });
      req.on('error', reject);
      req.end();
    });
  const hasV6Loopback = () => {
    const probe = createServer();
    return listen(probe, '::1').then(
      () => close(probe).then(() => true),
      () => false,
    );
  };

  it('is held for the default plan and for HOST=localhost, not for [::1] or a TLS host elsewhere', () => {
    expect(namesLocalhostOverIpv4(bindPlan({}))).toBe(true);
    expect(namesLocalhostOverIpv4(bindPlan({ HOST: 'localhost' }))).toBe(true);
    expect(namesLocalhostOverIpv4(bindPlan({ HOST: '::1' }))).toBe(false);
    expect(
      namesLocalhostOverIpv4(
        bindPlan({ HOST: '0.0.0.0', SECURE_DROP_TLS_CERT: 'c', SECURE_DROP_TLS_KEY: 'k' }, exists),
      ),
    ).toBe(false);
  });

  it('a program already listening there stops the run; once held, none can listen there, and it reaches the host', async (ctx) => {
    if (!(await hasV6Loopback())) ctx.skip(); // no IPv6 loopback here: nobody can listen there
    const host = createHttpServer((_req, res) => res.end('the run’s host'));
    const port = await listen(host, '127.0.0.1');
    onTestFinished(() => close(host));

    const squatter = createServer();
    await listen(squatter, '::1', port);
    await expect(holdLoopbackV6(port)).rejects.toThrow(BindError);
    await expect(holdLoopbackV6(port)).rejects.toThrow(/\[::1\].*another program.*localhost/);
    await close(squatter);

    const held = await holdLoopbackV6(port);
    onTestFinished(() => close(held));
    await expect(listen(createServer(), '::1', port)).rejects.toMatchObject({ code: 'EADDRINUSE' });
    expect(await get(`http://[::1]:${port}/`)).toBe('the run’s host');
  });
});
