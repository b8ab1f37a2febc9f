// What failed authentications are counted by (src/api/auth.ts): an IPv4 address, or an IPv6 /64.
import { describe, expect, it } from 'vitest';
import { sourceKey } from '../../src/api/auth.ts';

describe('the source a failed authentication is counted against', () => {
  it('is the address for IPv4, also IPv4 written as IPv6', () => {
    expect(sourceKey('203.0.113.7')).toBe('203.0.113.7');
    expect(sourceKey('::ffff:203.0.113.7')).toBe('::ffff:203.0.113.7');
  });

  it('is the /64 for IPv6, however the address is written', () => {
    expect(sourceKey('2001:db8:1:2::1')).toBe('2001:db8:1:2::/64');
    expect(sourceKey('2001:0db8:0001:0002:ffff:0:0:9')).toBe('2001:db8:1:2::/64');
    expect(sourceKey('2001:DB8:1:2:ABCD::')).toBe('2001:db8:1:2::/64');
    expect(sourceKey('::1')).toBe('0:0:0:0::/64');
    expect(sourceKey('fe80::1')).toBe('fe80:0:0:0::/64');
  });
});
