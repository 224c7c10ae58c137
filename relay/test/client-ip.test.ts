// The key per-address limits count a client under (src/http/client-ip.ts addressKey): an IPv6
// client by its /64 however its address is spelt, an IPv4-mapped one as IPv4.
import { describe, expect, it } from 'vitest';
import { addressKey } from '../src/http/client-ip.js';

describe('addressKey', () => {
  it('keys IPv4 as itself and IPv4-mapped IPv6 as the IPv4 address', () => {
    expect(addressKey('203.0.113.9')).toBe('203.0.113.9');
    expect(addressKey('::ffff:203.0.113.9')).toBe('203.0.113.9');
    expect(addressKey('::ffff:cb00:7109')).toBe('203.0.113.9');
  });

  it('keys every spelling of an address of one /64 alike', () => {
    const key = addressKey('2001:db8:1:2::1');
    for (const a of [
      '2001:db8:1:2::ffff',
      '2001:DB8:1:2:0:0:0:9',
      '2001:0db8:0001:0002::1.2.3.4',
      'fe80::1%eth0'.replace('fe80', '2001:db8:1:2'),
    ])
      expect(addressKey(a)).toBe(key);
    expect(addressKey('2001:db8:1:3::1')).not.toBe(key);
    // NAT64 and IPv4-compatible spellings, dotted, are IPv6 addresses too.
    expect(addressKey('64:ff9b::1.2.3.4')).toBe(addressKey('64:ff9b::102:304'));
    expect(addressKey('::1.2.3.4')).toBe(addressKey('::1'));
  });

  it('leaves what is not an address as it is', () => {
    expect(addressKey('unknown')).toBe('unknown');
  });
});
