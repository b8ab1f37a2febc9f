import { describe, expect, it } from 'vitest';
import { rpcPortRange } from '../../src/infra/samba-ad.ts';

// The test DC must never bind its RPC endpoints to a port the kernel may hand to a client connection:
// when one did (127.0.0.1:49154), Samba exited at start-up and every AD test failed.
describe('the Samba AD test DC RPC port range', () => {
  it('lies just above the ephemeral range on Linux defaults', () => {
    expect(rpcPortRange([32768, 60999])).toEqual([61000, 61199]);
  });

  it('lies just below the ephemeral range when that range reaches the top', () => {
    expect(rpcPortRange([49152, 65535])).toEqual([48952, 49151]);
  });
});
