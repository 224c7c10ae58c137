import { describe, expect, it } from 'vitest';
import { translator } from '../i18n/i18n.ts';
import { clientLabel } from './client-label.ts';

describe('clientLabel', () => {
  const ru = translator('ru');
  const en = translator('en');

  it('says "<browser> on <system>" in the user’s language, unknown parts included', () => {
    expect(clientLabel('Chrome on Linux', ru)).toBe('Chrome на Linux');
    expect(clientLabel('Unknown on Linux', ru)).toBe('Браузер на Linux');
    expect(clientLabel('Firefox on Unknown', ru)).toBe('Firefox на неизвестной системе');
    expect(clientLabel('Unknown on Unknown', en)).toBe('A browser on an unknown system');
    expect(clientLabel('Samsung Internet on Android', en)).toBe('Samsung Internet on Android');
    expect(clientLabel('Browser', ru)).toBe('Браузер');
  });

  it('leaves any other text as it is', () => {
    for (const text of ['My laptop', 'Chrome on my laptop', 'on Linux', 'Netscape on Linux', ''])
      expect(clientLabel(text, ru)).toBe(text);
  });
});
