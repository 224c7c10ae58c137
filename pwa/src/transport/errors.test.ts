import { describe, expect, it } from 'vitest';
import { apiErrorFrom, apiErrorOf } from './errors.ts';

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });

describe('apiErrorFrom', () => {
  it("keeps the relay's code, message and status", async () => {
    const e = await apiErrorFrom(json(409, { error: 'username_taken', message: 'taken' }));
    expect([e.status, e.code, e.message, e.retryAfter]).toEqual([409, 'username_taken', 'taken', undefined]);
  });

  it('reads retry hints from the body or the Retry-After header', async () => {
    expect(
      (await apiErrorFrom(json(429, { error: 'locked_out', message: 'x', retry_after: 42 }))).retryAfter,
    ).toBe(42);
    expect(
      (await apiErrorFrom(json(429, { error: 'x', message: 'x', retry_after_seconds: 7 }))).retryAfter,
    ).toBe(7);
    expect(
      (await apiErrorFrom(json(429, { error: 'rate_limited', message: 'x' }, { 'retry-after': '30' })))
        .retryAfter,
    ).toBe(30);
    expect(
      (await apiErrorFrom(json(429, { error: 'x', message: 'x' }, { 'retry-after': 'soon' }))).retryAfter,
    ).toBeUndefined();
  });

  it('falls back to http_<status> for a body that is not the relay error shape', async () => {
    const html = new Response('<html>bad gateway</html>', { status: 502, statusText: 'Bad Gateway' });
    const e = await apiErrorFrom(html);
    expect([e.code, e.message]).toEqual(['http_502', 'Bad Gateway']);
    const weird = await apiErrorFrom(json(400, { error: 'NOT A CODE <script>', message: 5 }));
    expect(weird.code).toBe('http_400');
  });

  it("gives a socket response frame's error the same ApiError as the same HTTP answer", async () => {
    // spec/ws-frames.schema.json ResponseFrame: the HTTP status and body; Retry-After travels
    // as retry_after_seconds.
    const body = { error: 'rate_limited', message: 'sending too fast', retry_after_seconds: 3 };
    const overHttp = await apiErrorFrom(json(429, body, { 'retry-after': '3' }));
    const overSocket = apiErrorOf(429, body, 'request failed');
    expect([overSocket.status, overSocket.code, overSocket.message, overSocket.retryAfter]).toEqual([
      overHttp.status,
      overHttp.code,
      overHttp.message,
      overHttp.retryAfter,
    ]);
    expect(overSocket.retryAfter).toBe(3);
    expect(apiErrorOf(500, 'not an object', 'request failed').code).toBe('http_500');
  });
});
