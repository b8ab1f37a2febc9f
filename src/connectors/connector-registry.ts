// The one place that knows which application types have a connector running inside the engine, and how
// to build it from an application's plan.
import type { ConnectorType } from './connector.ts';
import type { ConnectorFactory } from './in-engine-connector.ts';
import { createScimConnector } from './scim/scim-connector.ts';
import { createSqlConnector } from './sql/sql-connector.ts';

export type ConnectorRegistry = Partial<Record<ConnectorType, ConnectorFactory>>;

export const inEngineConnectors: ConnectorRegistry = {
  scim: createScimConnector,
  sql: createSqlConnector,
};
