// Enabling and disabling accounts, per directory kind: Active Directory's ACCOUNTDISABLE bit of
// userAccountControl (written only when it changes), OpenLDAP's ppolicy lock (pwdAccountLockedTime set
// for ever, or removed when present).
import { Attribute, Change, ResultCodeError } from 'ldapts';
import type { WritebackInstruction } from '../../contracts.ts';
import { first, presentValues } from './attribute-values.ts';
import { mustLocate, readAnchor } from './entry-lookup.ts';
import { WritebackFailure } from './writeback-failure.ts';
import type { Located, WriteContext } from './write-context.ts';

const ACCOUNTDISABLE = 0x2;
/** ppolicy's "locked by an administrator, for ever" value (RFC draft behera: 000001010000Z). */
const PERMANENTLY_LOCKED = '000001010000Z';

/** The enable and disable operations. */
export function setEnabled(
  context: WriteContext,
  instruction: WritebackInstruction,
  enabled: boolean,
): Promise<Located> {
  return context.options.kind === 'active-directory'
    ? setAccountControl(context, instruction, enabled)
    : setPpolicyLock(context, instruction, enabled);
}

/** userAccountControl with ACCOUNTDISABLE cleared (enabled) or set. */
export function accountControl(current: number, enabled: boolean): number {
  return enabled ? current & ~ACCOUNTDISABLE : current | ACCOUNTDISABLE;
}

async function setAccountControl(
  context: WriteContext,
  instruction: WritebackInstruction,
  enabled: boolean,
): Promise<Located> {
  const entry = await mustLocate(context, instruction, ['userAccountControl']);
  const current = Number(first(presentValues(entry, 'userAccountControl')) ?? 0);
  const next = accountControl(current, enabled);
  if (next !== current) {
    await context.client.modify(
      entry.dn,
      new Change({
        operation: 'replace',
        modification: new Attribute({ type: 'userAccountControl', values: [String(next)] }),
      }),
    );
  }
  return { dn: entry.dn, externalId: readAnchor(context.options.kind, entry) };
}

async function setPpolicyLock(
  context: WriteContext,
  instruction: WritebackInstruction,
  enabled: boolean,
): Promise<Located> {
  const { client } = context;
  const entry = await mustLocate(context, instruction, ['pwdAccountLockedTime']);
  const locked = presentValues(entry, 'pwdAccountLockedTime').length > 0;
  try {
    if (!enabled) {
      await client.modify(
        entry.dn,
        new Change({
          operation: 'replace',
          modification: new Attribute({ type: 'pwdAccountLockedTime', values: [PERMANENTLY_LOCKED] }),
        }),
      );
    } else if (locked) {
      await client.modify(
        entry.dn,
        new Change({ operation: 'delete', modification: new Attribute({ type: 'pwdAccountLockedTime' }) }),
      );
    }
  } catch (error) {
    // undefinedAttributeType: the schema has no pwdAccountLockedTime without the overlay.
    if (error instanceof ResultCodeError && error.code === 17) {
      throw new WritebackFailure(
        'JNY_WRITEBACK_NO_PPOLICY',
        `${instruction.operation} of ${entry.dn}: the directory has no pwdAccountLockedTime attribute; load the ppolicy overlay (olcOverlay ppolicy) to lock and unlock accounts`,
      );
    }
    throw error;
  }
  return { dn: entry.dn, externalId: readAnchor(context.options.kind, entry) };
}
