import { afterEach, describe, expect, it } from 'vitest';
import { clearDraft, loadDraft, type RegistrationDraft, saveDraft } from './registration-draft.ts';

const draft: RegistrationDraft = {
  username: 'alice',
  otpauthUri: 'otpauth://totp/Secure%20Drop:alice?secret=JBSWY3DPEHPK3PXP&issuer=Secure%20Drop',
  secret: 'JBSWY3DPEHPK3PXP',
  qrImageUrl: 'data:image/png;base64,AAAA',
  expiresAt: 1_000_000,
};

afterEach(() => sessionStorage.clear());

describe('the registration draft (a reload during enrolment)', () => {
  it('is kept in this tab until it expires, then forgotten', () => {
    saveDraft(draft);
    expect(loadDraft(999_999)).toEqual(draft);
    expect(loadDraft(1_000_000)).toBeNull();
    // Expired drafts leave the tab's storage, secret and all.
    expect(sessionStorage.length).toBe(0);
  });

  it('is gone once cleared (confirmed, or another name chosen)', () => {
    saveDraft(draft);
    clearDraft();
    expect(loadDraft(0)).toBeNull();
  });

  it('refuses what is not a draft', () => {
    for (const junk of ['{', 'null', '42', JSON.stringify({ ...draft, otpauthUri: 'javascript:alert(1)' })]) {
      sessionStorage.setItem('secure-drop:registration', junk);
      expect(loadDraft(0)).toBeNull();
    }
    sessionStorage.setItem('secure-drop:registration', JSON.stringify({ ...draft, expiresAt: '1000000' }));
    expect(loadDraft(0)).toBeNull();
  });
});
