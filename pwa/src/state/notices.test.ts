import { describe, expect, it } from 'vitest';
import { storedNotices, withNotice } from './notices.ts';

describe('the notice queue', () => {
  it('keeps a notice not yet read when another comes, and each only once', () => {
    let q = storedNotices('protocol_reset'); // as stored before the queue
    q = withNotice(q, 'sync_expired');
    q = withNotice(q, 'sync_expired');
    expect(q).toEqual(['protocol_reset', 'sync_expired']);
    expect(q.slice(1)).toEqual(['sync_expired']); // dismissed: the next one shows
  });

  it('reads nothing it does not know from the store', () => {
    expect(storedNotices(undefined)).toEqual([]);
    expect(storedNotices('something else')).toEqual([]);
    expect(storedNotices(['archive_erased', 7, 'nope'])).toEqual(['archive_erased']);
  });
});
