// Reads Active Directory: full imports by paged search, deltas by uSNChanged.
//
// Why uSNChanged rather than DirSync (LDAP_SERVER_DIRSYNC_OID): DirSync needs the "Replicating Directory
// Changes" right on the naming context, which a least-privilege service account should not hold, and
// returns only changed attributes; uSNChanged needs nothing but read access and we re-read whole objects.
// USNs are per domain controller: the cookie records the DC (dnsHostName, invocationId), and a delta
// against another DC (or a restored one: new invocationId) is refused, since its USNs mean nothing here.
import { Control, type Entry } from 'ldapts';
import type { Logger } from 'pino';
import { DeltaCookieExpiredError, ValidationError } from '../../../kernel/errors.ts';
import type {
  DirectoryChange,
  DirectoryObjectClass,
  DirectoryRecord,
  DirectorySource,
} from '../contracts.ts';
import type { LdapDirectoryOptions } from './directory-options.ts';
import type { SourceConnections } from './ldap-connection.ts';
import {
  canonicalGuid,
  completeRanges,
  entryAttributes,
  firstBuffer,
  firstString,
  inDirectory,
  isWithin,
  objectClasses,
  readDirectorySchema,
  searchAll,
  searchPages,
  strings,
  type DirectorySchema,
} from './ldap-records.ts';

const ACCOUNTDISABLE = 0x2;
/** LDAP_SERVER_SHOW_DELETED_OID: lets a search see tombstones in the Deleted Objects container. */
const SHOW_DELETED_OID = '1.2.840.113556.1.4.417';

/** Where a delta starts: a USN of one domain controller. */
interface AdCookie {
  usn: string;
  dc: string;
  invocationId: string;
}

export function createActiveDirectorySource(
  connections: SourceConnections,
  options: LdapDirectoryOptions,
  logger: Logger,
): DirectorySource {
  const log = logger.child({ directory: 'active-directory' });
  const deletedObjects = `CN=Deleted Objects,${options.baseDn}`;
  let schema: Promise<DirectorySchema> | undefined;
  const directorySchema = (): Promise<DirectorySchema> => {
    schema ??= readDirectorySchema(connections.reads).catch((error: unknown) => {
      schema = undefined; // read again on the next call
      throw error;
    });
    return schema;
  };

  const toRecord = async (
    entry: Entry,
    objectClass: DirectoryObjectClass,
    known: DirectorySchema,
  ): Promise<DirectoryRecord> => {
    const guid = firstBuffer(entry.objectGUID);
    if (guid === undefined) {
      throw new ValidationError(
        `the ${objectClass} ${entry.dn} has no objectGUID; is this Active Directory?`,
      );
    }
    const complete = await completeRanges(connections.reads, entry);
    const userAccountControl = Number(firstString(entry.userAccountControl) ?? '0');
    return {
      objectClass,
      externalId: canonicalGuid(guid),
      dn: entry.dn,
      attributes: entryAttributes(complete, known),
      ...(objectClass === 'user' ? { enabled: (userAccountControl & ACCOUNTDISABLE) === 0 } : {}),
    };
  };

  /** The DC's position now: its highestCommittedUSN, and who it is. */
  const position = async (): Promise<AdCookie> => {
    const root = await inDirectory(connections.reads, 'reading the rootDSE', '(rootDSE)', async (client) => {
      const { searchEntries } = await client.search('', {
        scope: 'base',
        filter: '(objectClass=*)',
        attributes: ['highestCommittedUSN', 'dnsHostName', 'dsServiceName'],
      });
      return searchEntries[0];
    });
    const usn = firstString(root?.highestCommittedUSN);
    const dc = firstString(root?.dnsHostName) ?? options.url;
    const service = firstString(root?.dsServiceName);
    if (usn === undefined || service === undefined) {
      throw new ValidationError(
        `${options.url} publishes no highestCommittedUSN/dsServiceName: not an Active Directory DC`,
      );
    }
    const settings = await inDirectory(
      connections.reads,
      'reading the DC invocationId',
      service,
      async (client) => {
        const { searchEntries } = await client.search(service, {
          scope: 'base',
          filter: '(objectClass=*)',
          attributes: ['invocationId'],
          explicitBufferAttributes: ['invocationId'],
        });
        return searchEntries[0];
      },
    );
    const invocation = firstBuffer(settings?.invocationId);
    if (invocation === undefined) throw new ValidationError(`${service} has no invocationId`);
    return { usn, dc, invocationId: canonicalGuid(invocation) };
  };

  const changedObjects = async (from: bigint): Promise<{ usn: bigint; change: DirectoryChange }[]> => {
    const known = await directorySchema();
    const changes: { usn: bigint; change: DirectoryChange }[] = [];
    for (const objectClass of objectClasses) {
      const search = options.searches[objectClass];
      const entries = await searchAll(connections.reads, {
        operation: `reading changed ${objectClass}s`,
        base: search.base,
        filter: `(&${search.filter}(uSNChanged>=${String(from)}))`,
        attributes: ['*'],
        bufferNames: known.bufferNames,
        pageSize: options.pageSize,
      });
      for (const entry of entries) {
        changes.push({
          usn: BigInt(firstString(entry.uSNChanged) ?? '0'),
          change: { operation: 'upsert', record: await toRecord(entry, objectClass, known) },
        });
      }
    }
    const tombstones = await searchAll(connections.reads, {
      operation: 'reading deleted objects',
      base: deletedObjects,
      scope: 'one',
      filter: `(&(isDeleted=TRUE)(uSNChanged>=${String(from)}))`,
      attributes: ['objectGUID', 'objectClass', 'uSNChanged', 'lastKnownParent'],
      bufferNames: ['objectGUID'],
      controls: [new Control(SHOW_DELETED_OID, { critical: true })],
      pageSize: options.pageSize,
    });
    for (const tombstone of tombstones) {
      const objectClass = tombstoneClass(strings(tombstone.objectClass));
      const guid = firstBuffer(tombstone.objectGUID);
      if (objectClass === undefined || guid === undefined) continue; // not a user, group or contact
      const parent = firstString(tombstone.lastKnownParent);
      const base = options.searches[objectClass].base;
      // Deleted Objects is domain-wide: keep what was deleted under the object class's base.
      if (parent === undefined ? !isWithin(options.baseDn, base) : !isWithin(parent, base)) continue;
      changes.push({
        usn: BigInt(firstString(tombstone.uSNChanged) ?? '0'),
        change: { operation: 'delete', objectClass, externalId: canonicalGuid(guid), dn: tombstone.dn },
      });
    }
    return changes;
  };

  return {
    async *fullImport() {
      const known = await directorySchema();
      for (const objectClass of objectClasses) {
        const search = options.searches[objectClass];
        let count = 0;
        for await (const entries of searchPages(connections.fullImport, {
          operation: `reading ${objectClass}s`,
          base: search.base,
          filter: search.filter,
          attributes: ['*'],
          bufferNames: known.bufferNames,
          pageSize: options.pageSize,
        })) {
          count += entries.length;
          const records: DirectoryRecord[] = [];
          for (const entry of entries) records.push(await toRecord(entry, objectClass, known));
          yield records;
        }
        log.debug({ objectClass, count }, 'object class read');
      }
    },

    async currentCookie() {
      return JSON.stringify(await position());
    },

    async deltaImport(cookie) {
      const previous = parseCookie(cookie);
      // Read before the searches: a change made while they run is seen now or next time, never lost.
      const now = await position();
      if (now.invocationId !== previous.invocationId) {
        throw new DeltaCookieExpiredError(
          `the delta cookie belongs to the domain controller ${previous.dc} (invocationId ${previous.invocationId}), but ${options.url} is ${now.dc} (invocationId ${now.invocationId}); USNs differ between domain controllers`,
        );
      }
      const from = BigInt(previous.usn) + 1n;
      const changes = (await changedObjects(from))
        .sort((a, b) => (a.usn < b.usn ? -1 : a.usn > b.usn ? 1 : 0))
        .map(({ change }) => change);
      log.debug({ from: String(from), to: now.usn, changes: changes.length }, 'uSNChanged read');
      return { changes, cookie: JSON.stringify(now) };
    },

    async close() {
      await Promise.all([connections.reads.close(), connections.fullImport.close()]);
    },
  };
}

function parseCookie(cookie: string): AdCookie {
  let value: unknown;
  try {
    value = JSON.parse(cookie);
  } catch (error) {
    throw new ValidationError('the delta cookie is not an Active Directory cookie (JSON)', { cause: error });
  }
  const candidate = value as Partial<AdCookie> | null;
  if (
    typeof candidate?.usn !== 'string' ||
    !/^\d+$/.test(candidate.usn) ||
    typeof candidate.dc !== 'string' ||
    typeof candidate.invocationId !== 'string'
  ) {
    throw new ValidationError('the delta cookie is not an Active Directory cookie (usn, dc, invocationId)');
  }
  return { usn: candidate.usn, dc: candidate.dc, invocationId: candidate.invocationId };
}

/** A tombstone keeps its objectClass chain; computers are users too, and are not read. */
function tombstoneClass(values: string[]): DirectoryObjectClass | undefined {
  const lower = new Set(values.map((value) => value.toLowerCase()));
  if (lower.has('group')) return 'group';
  if (lower.has('contact')) return 'contact';
  if (lower.has('user') && !lower.has('computer')) return 'user';
  return undefined;
}
