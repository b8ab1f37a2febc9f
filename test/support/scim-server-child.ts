// The SCIM test server (scim-server.ts) in a process of its own, for the SCIM export benchmark: its CPU is
// not the benchmark's. `node scim-server-child.ts <latencyMs>` prints one JSON line ({ url, token }) once it
// listens, and closes on SIGTERM or SIGINT.
import { startScimTestServer } from './scim-server.ts';

const latencyMs = Number(process.argv[2] ?? 0);
if (!Number.isFinite(latencyMs) || latencyMs < 0)
  throw new Error(
    `usage: scim-server-child.ts <latencyMs>, a number of milliseconds ≥ 0 (got ${String(process.argv[2])})`,
  );
const server = await startScimTestServer({ latencyMs });
process.stdout.write(`${JSON.stringify({ url: server.url, token: server.token })}\n`);
for (const signal of ['SIGTERM', 'SIGINT'] as const)
  process.once(signal, () => {
    void server.close().then(() => process.exit(0));
  });
