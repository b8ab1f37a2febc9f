// Integration tests run against real servers: start the ones that are not running yet. Samba AD is left
// to the tests that need it (it comes up lazily in their beforeAll).
import { createInfraService } from '../../src/infra/stack.ts';
import { defaultInfraServices } from '../../src/infra/catalog.ts';

export async function setup(): Promise<void> {
  for (const name of defaultInfraServices) {
    const started = Date.now();
    const status = await (await createInfraService(name)).up();
    console.log(`[infra] ${name} up at ${status.endpoint} (${status.managedBy}, ${Date.now() - started} ms)`);
  }
}
