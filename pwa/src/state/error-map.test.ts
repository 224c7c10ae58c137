import { describe, expect, it } from 'vitest';
import { ApiError } from '../transport/errors.ts';
import { toAddContactError, toAppError } from './error-map.ts';
import { AppError } from './errors.ts';

describe('error mapping', () => {
  it('adding a contact: the relay’s 404 not_found reads as “no account with this username”', () => {
    const notFound = new ApiError(404, 'not_found', 'no such user');
    expect(toAppError(notFound).code).toBe('not_found');
    expect(toAddContactError(notFound).code).toBe('unknown_user');
    // A 404 without a code (e.g. from a proxy) is the same thing to the user.
    expect(toAddContactError(new ApiError(404, 'http_404', '')).code).toBe('unknown_user');
  });

  it('adding a contact: every other failure keeps its own code', () => {
    expect(toAddContactError(new ApiError(0, 'network', '')).code).toBe('network');
    expect(toAddContactError(new ApiError(429, 'rate_limited', '')).code).toBe('rate_limited');
    expect(toAddContactError(new ApiError(400, 'bad_request', '')).code).toBe('unknown');
    expect(toAddContactError(new AppError('unauthorized')).code).toBe('unauthorized');
  });
});
