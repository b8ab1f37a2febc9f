// Setup file of the 'active-directory' project (vitest.config.ts): a test file that talks to the Samba AD
// test DC waits for its turn, so that no two of them use the DC at once — it serves LDAP from one process
// (`samba -M single`), and two files at once keep one waiting for seconds on the other's operations, past
// their timeouts. They still run beside the other integration files, on the other worker.
//
// The turn is a PostgreSQL advisory lock on the tests' server, held by a connection of this file's own:
// it is released when the file ends, or when its worker dies and the connection with it.
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { createPostgres } from '../../src/infra/postgres.ts';

// Any fixed number: the lock every Samba AD test file takes.
const sambaAdTurn = 7_245_118_804;
let holder: pg.Client | undefined;

beforeAll(async () => {
  const client = new pg.Client({ connectionString: createPostgres().adminUrl });
  await client.connect();
  await client.query('select pg_advisory_lock($1)', [sambaAdTurn]);
  holder = client;
  // Another Samba AD file may hold the turn for minutes: waiting is this hook's whole work.
}, 1_200_000);

afterAll(async () => {
  await holder?.end();
  holder = undefined;
});
