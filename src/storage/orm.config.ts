// MikroORM options, shared by the service and the MikroORM CLI (which generates migrations/).
import { join } from 'node:path';
import { defineConfig, type Options } from '@mikro-orm/postgresql';
import { Migrator } from '@mikro-orm/migrations';
import { Application } from './entities/application.entity.ts';
import { ServiceAccount } from './entities/service-account.entity.ts';
import { Tenant } from './entities/tenant.entity.ts';
import { Identity } from './entities/identity.entity.ts';
import { IdentitySource } from './entities/identity-source.entity.ts';
import { IdentityTimer } from './entities/identity-timer.entity.ts';
import { StreamOffset } from './entities/stream-offset.entity.ts';
import { OutboxBatch, OutboxMessage } from './entities/outbox-batch.entity.ts';
import { PlanVersion } from './entities/plan-version.entity.ts';
import { PlanReconciliation } from './entities/plan-reconciliation.entity.ts';
import { ImportRun, RepositoryObject } from './entities/repository.entities.ts';
import { ExportItem, OutboundObject, Schedule } from './entities/outbound.entities.ts';
import { BusGroupOffset, BusMember, BusMessage, BusPartition, BusTopic } from './entities/bus.entities.ts';
import { Connector, TenantKey } from './entities/connector.entity.ts';
import { VaultGroup, VaultGroupMember } from './entities/group.entities.ts';
import { projectRoot } from '../infra/process.ts';

export const migrationsDir = join(projectRoot, 'migrations');
export const entities = [
  Tenant,
  Application,
  ServiceAccount,
  Identity,
  IdentitySource,
  IdentityTimer,
  StreamOffset,
  OutboxBatch,
  OutboxMessage,
  PlanVersion,
  PlanReconciliation,
  RepositoryObject,
  ImportRun,
  OutboundObject,
  ExportItem,
  Schedule,
  BusTopic,
  BusPartition,
  BusMessage,
  BusMember,
  BusGroupOffset,
  Connector,
  TenantKey,
  VaultGroup,
  VaultGroupMember,
];

export function createOrmOptions(settings: { clientUrl: string; poolSize?: number }): Options {
  return defineConfig({
    clientUrl: settings.clientUrl,
    entities,
    extensions: [Migrator],
    pool: { max: settings.poolSize ?? 10 },
    migrations: {
      path: migrationsDir,
      pathTs: migrationsDir,
      glob: '!(*.d).{js,ts}',
      tableName: 'joinery_migrations',
      transactional: true,
      allOrNothing: true,
      snapshot: true,
      // The snapshot is written by `migration:create` only: rewriting it on every migrate made parallel test
      // workers (and a service migrating beside them) read a half-written file.
      snapshotOnMigrate: false,
      snapshotName: '.snapshot-joinery',
      emit: 'ts',
      fileName: (timestamp: string, name?: string) => `Migration${timestamp}${name ? `_${name}` : ''}`,
    },
  });
}

// Read by the MikroORM CLI only (npm run migration:create); the service passes its own configuration.
export default createOrmOptions({
  clientUrl: process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/joinery_dev',
});
