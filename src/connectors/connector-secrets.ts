// Secrets of connectors are never written in a plan: the plan names them (`env:NAME`) and they are read
// here, from the environment the composition root hands over, when a connector is built. Their values go
// into requests only, never into logs or errors.
import { ConfigError } from '../../kernel/errors.ts';

/** Reads a secret by its reference; throws a ConfigError naming the reference when it cannot. */
export type SecretResolver = (reference: string) => string;

const envReference = /^env:([A-Za-z_][A-Za-z0-9_]{0,127})$/;

/** The value a secret reference names, from `environment` (the engine's process.env). */
export function resolveConnectorSecret(
  reference: string,
  environment: Readonly<Record<string, string | undefined>>,
): string {
  const name = envReference.exec(reference)?.[1];
  if (name === undefined)
    throw new ConfigError(
      `secret reference "${reference}" is not env:NAME: write the secret in an environment variable of the engine and name it as env:NAME`,
    );
  const value = environment[name];
  if (value === undefined || value === '')
    throw new ConfigError(
      `the environment variable ${name} (secret ${reference}) is not set in the engine's environment: set it where Joinery starts`,
      { details: { reference } },
    );
  return value;
}

/** A resolver over one environment. */
export function secretsFrom(environment: Readonly<Record<string, string | undefined>>): SecretResolver {
  return (reference) => resolveConnectorSecret(reference, environment);
}
