// Writeback to OpenLDAP and Active Directory: applies one export (create, update with rename/move and
// group membership, enable/disable, set password, delete) and answers with the object's anchor or a coded
// error. Each operation is in writeback/: it locates its object by anchor (objectGUID / entryUUID), so a
// rename made elsewhere does not break it, and is written to be applied twice with the same end state.
import type { Logger } from 'pino';
import type { Writeback, WritebackInstruction, WritebackResult } from '../contracts.ts';
import type { LdapDirectoryOptions } from './directory-options.ts';
import type { LdapConnection } from './ldap-connection.ts';
import { setEnabled } from './writeback/account-state.ts';
import { createEntry } from './writeback/create-entry.ts';
import { deleteEntry } from './writeback/delete-entry.ts';
import { refuseCleartextChannel, setPassword } from './writeback/passwords.ts';
import { updateEntry } from './writeback/update-entry.ts';
import { failedResult } from './writeback/writeback-failure.ts';
import type { Located, Subject, WriteContext } from './writeback/write-context.ts';

type Operation = (context: WriteContext, instruction: WritebackInstruction) => Promise<Located>;

const operations: Record<WritebackInstruction['operation'], Operation> = {
  create: createEntry,
  update: updateEntry,
  enable: (context, instruction) => setEnabled(context, instruction, true),
  disable: (context, instruction) => setEnabled(context, instruction, false),
  password: setPassword,
  delete: deleteEntry,
};

export function createLdapWriteback(
  connection: LdapConnection,
  options: LdapDirectoryOptions,
  logger: Logger,
): Writeback {
  return {
    async apply(instruction) {
      const logged = {
        exportId: instruction.exportId,
        operation: instruction.operation,
        objectClass: instruction.objectClass ?? 'user',
        externalId: instruction.externalId,
        attempt: instruction.attempt,
      };
      const subject: Subject = {};
      let result: WritebackResult;
      try {
        if (instruction.operation === 'password' || instruction.password !== undefined) {
          refuseCleartextChannel(
            options,
            `${instruction.operation} of ${instruction.externalId ?? 'a new object'}`,
          );
        }
        const operation = operations[instruction.operation];
        const located = await connection.withClient((client) =>
          operation({ client, options, subject }, instruction),
        );
        result = {
          status: 'succeeded',
          externalId: located.externalId,
          ...(located.dn === '' ? {} : { dn: located.dn }),
        };
        logger.info({ ...logged, externalId: located.externalId, dn: located.dn }, 'export applied');
      } catch (error) {
        result = failedResult(instruction, subject, error);
        logger.warn({ ...logged, code: result.code, retriable: result.retriable }, result.message);
      }
      return result;
    },
    close() {
      return connection.close();
    },
  };
}
