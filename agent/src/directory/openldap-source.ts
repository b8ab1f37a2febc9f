// Reads an OpenLDAP directory: full imports by paged search, deltas from the accesslog overlay.
//
// Why accesslog polling rather than an RFC 4533 refreshAndPersist search (syncprov is loaded too): ldapts
// does not parse the Sync Info intermediate responses that carry the sync cookie and the deleted entries'
// UUIDs, and a persistent search would also need its own reconnect logic. The accesslog database is read
// with plain searches, its position (reqStart) is a cookie the agent can persist, and every write since
// that position is there, deletions included (each with reqEntryUUID, OpenLDAP 2.5+).
import type { Entry } from 'ldapts';
import type { Logger } from 'pino';
import { DeltaCookieExpiredError, ValidationError } from '../../../kernel/errors.ts';
import type {
  DeltaResult,
  DirectoryChange,
  DirectoryObjectClass,
  DirectoryRecord,
  DirectorySource,
} from '../contracts.ts';
import type { LdapDirectoryOptions } from './directory-options.ts';
import type { SourceConnections } from './ldap-connection.ts';
import {
  classByLocation,
  entryAttributes,
  escapeFilterValue,
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

/** The operational attributes worth sending besides the user attributes (`*`). */
const readAttributes = [
  '*',
  'entryUUID',
  'createTimestamp',
  'modifyTimestamp',
  'pwdAccountLockedTime',
  'pwdChangedTime',
];
const logAttributes = [
  'reqStart',
  'reqType',
  'reqDN',
  'reqEntryUUID',
  'reqNewRDN',
  'reqNewSuperior',
  'reqOld',
];
/** The cookie of an empty accesslog: every entry written later is newer. */
const beginningOfLog = '19700101000000.000000Z';
const generalizedTime = /^\d{14}(\.\d{1,6})?Z$/;
/** How many entryUUIDs one re-reading search asks for. */
const uuidsPerSearch = 100;

/** A change of the accesslog, folded: the last thing that happened to one entry. */
type Pending =
  | { operation: 'read'; dn: string; entryUUID?: string }
  | { operation: 'delete'; dn: string; entryUUID: string; oldObjectClasses: string[] };

export function createOpenLdapSource(
  connections: SourceConnections,
  options: LdapDirectoryOptions,
  logger: Logger,
): DirectorySource {
  const log = logger.child({ directory: 'openldap' });
  const accessLog = options.accessLogDn;
  let schema: Promise<DirectorySchema> | undefined;
  const directorySchema = (): Promise<DirectorySchema> => {
    schema ??= readDirectorySchema(connections.reads).catch((error: unknown) => {
      schema = undefined; // read again on the next call
      throw error;
    });
    return schema;
  };

  const toRecord = (
    entry: Entry,
    objectClass: DirectoryObjectClass,
    known: DirectorySchema,
  ): DirectoryRecord => {
    const externalId = firstString(entry.entryUUID);
    if (externalId === undefined) {
      throw new ValidationError(
        `the ${objectClass} ${entry.dn} has no entryUUID; is the base an OpenLDAP database?`,
      );
    }
    return {
      objectClass,
      externalId,
      dn: entry.dn,
      attributes: entryAttributes(entry, known),
      // ppolicy locks an account by setting pwdAccountLockedTime; its absence is an enabled account.
      ...(objectClass === 'user' ? { enabled: strings(entry.pwdAccountLockedTime).length === 0 } : {}),
    };
  };

  const readLog = (filter: string, attributes = logAttributes) =>
    searchAll(connections.reads, {
      operation: 'reading the accesslog',
      base: accessLog,
      scope: 'one',
      filter,
      attributes,
      pageSize: options.pageSize,
    });

  /** Re-reads the entries by entryUUID (rename-proof) or DN, keeping those an object class search selects. */
  const reread = async (
    pending: { dn: string; entryUUID?: string }[],
  ): Promise<Map<string, DirectoryRecord>> => {
    const known = await directorySchema();
    const found = new Map<string, DirectoryRecord>();
    const byUuid = pending.flatMap((item) => (item.entryUUID === undefined ? [] : [item.entryUUID]));
    const byDn = pending.filter((item) => item.entryUUID === undefined).map((item) => item.dn);
    for (const objectClass of objectClasses) {
      const search = options.searches[objectClass];
      for (let at = 0; at < byUuid.length; at += uuidsPerSearch) {
        const uuids = byUuid.slice(at, at + uuidsPerSearch).filter((uuid) => !found.has(uuid));
        if (uuids.length === 0) continue;
        const filter = `(&${search.filter}(|${uuids.map((uuid) => `(entryUUID=${escapeFilterValue(uuid)})`).join('')}))`;
        const entries = await searchAll(connections.reads, {
          operation: `re-reading changed ${objectClass}s`,
          base: search.base,
          filter,
          attributes: readAttributes,
          bufferNames: known.bufferNames,
          pageSize: options.pageSize,
        });
        for (const entry of entries) {
          const record = toRecord(entry, objectClass, known);
          found.set(record.externalId, record);
        }
      }
      for (const dn of byDn) {
        if (found.has(`dn:${dn.toLowerCase()}`)) continue;
        const entries = await inDirectory(
          connections.reads,
          `re-reading a changed ${objectClass}`,
          dn,
          async (client) => {
            try {
              const result = await client.search(dn, {
                scope: 'base',
                filter: search.filter,
                attributes: readAttributes,
                explicitBufferAttributes: known.bufferNames,
              });
              return result.searchEntries;
            } catch (error) {
              if ((error as { code?: unknown }).code === 32) return []; // noSuchObject: gone since
              throw error;
            }
          },
        );
        const [entry] = entries.filter((candidate) => isWithin(candidate.dn, search.base));
        if (entry !== undefined) found.set(`dn:${dn.toLowerCase()}`, toRecord(entry, objectClass, known));
      }
    }
    return found;
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
          attributes: readAttributes,
          bufferNames: known.bufferNames,
          pageSize: options.pageSize,
        })) {
          count += entries.length;
          yield entries.map((entry) => toRecord(entry, objectClass, known));
        }
        log.debug({ objectClass, count }, 'object class read');
      }
    },

    async currentCookie() {
      // The newest reqStart; recent windows first so a long log is not read whole (no server-side sort):
      // a busy directory writes many entries an hour, and only the newest one matters.
      const now = Date.now();
      for (const back of [10_000, 300_000, 3_600_000, 86_400_000 * 8, undefined]) {
        const since = back === undefined ? beginningOfLog : toGeneralizedTime(new Date(now - back));
        const entries = await readLog(`(&(objectClass=auditWriteObject)(reqStart>=${since}))`, ['reqStart']);
        const newest = entries
          .map((entry) => firstString(entry.reqStart) ?? '')
          .sort()
          .at(-1);
        if (newest !== undefined && newest !== '') return newest;
      }
      return beginningOfLog;
    },

    async deltaImport(cookie): Promise<DeltaResult> {
      if (!generalizedTime.test(cookie)) {
        throw new ValidationError(`the delta cookie is not an OpenLDAP accesslog position (reqStart)`);
      }
      if (cookie !== beginningOfLog) {
        const position = await readLog(`(reqStart=${cookie})`, ['reqStart']);
        if (position.length === 0) {
          throw new DeltaCookieExpiredError(
            `the accesslog ${accessLog} no longer holds the position ${cookie} (purged by olcAccessLogPurge?)`,
          );
        }
      }
      const entries = (await readLog(`(&(objectClass=auditWriteObject)(reqResult=0)(reqStart>=${cookie}))`))
        .map((entry) => ({ entry, at: firstString(entry.reqStart) ?? '' }))
        .filter(({ at }) => at !== cookie)
        .sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));

      // Fold the log: one pending item per entry, in the order of its last change.
      const pending = new Map<string, Pending>();
      const put = (key: string, item: Pending) => {
        pending.delete(key);
        pending.set(key, item);
      };
      for (const { entry } of entries) {
        const type = firstString(entry.reqType);
        const dn = firstString(entry.reqDN) ?? '';
        const old = parseOld(strings(entry.reqOld));
        const entryUUID = firstString(entry.reqEntryUUID) ?? old.entryUUID;
        const key = entryUUID ?? `dn:${dn.toLowerCase()}`;
        if (type === 'add' || type === 'modify') {
          put(key, { operation: 'read', dn, ...(entryUUID === undefined ? {} : { entryUUID }) });
        } else if (type === 'modrdn') {
          const newRdn = firstString(entry.reqNewRDN) ?? '';
          const superior = firstString(entry.reqNewSuperior) ?? parentOf(dn);
          const newDn = superior === '' ? newRdn : `${newRdn},${superior}`;
          if (entryUUID === undefined) pending.delete(key);
          put(entryUUID ?? `dn:${newDn.toLowerCase()}`, {
            operation: 'read',
            dn: newDn,
            ...(entryUUID === undefined ? {} : { entryUUID }),
          });
        } else if (type === 'delete') {
          if (entryUUID === undefined) {
            throw new ValidationError(
              `the accesslog ${accessLog} records the deletion of ${dn} without its entryUUID (no reqEntryUUID, no reqOld); configure olcAccessLogOld on the accesslog overlay`,
            );
          }
          if (classByLocation(dn, options) === undefined) continue; // outside every search base
          put(key, { operation: 'delete', dn, entryUUID, oldObjectClasses: old.objectClasses });
        }
      }

      const reads = [...pending.values()].filter((item) => item.operation === 'read');
      const records = reads.length === 0 ? new Map<string, DirectoryRecord>() : await reread(reads);
      const changes: DirectoryChange[] = [];
      for (const item of pending.values()) {
        if (item.operation === 'delete') {
          changes.push({
            operation: 'delete',
            objectClass: deletedClass(item.dn, item.oldObjectClasses, options),
            externalId: item.entryUUID,
            dn: item.dn,
          });
          continue;
        }
        const record = records.get(item.entryUUID ?? `dn:${item.dn.toLowerCase()}`);
        // Not found: deleted since (its delete follows) or outside every object class search.
        if (record !== undefined) changes.push({ operation: 'upsert', record });
      }
      const newest = entries.at(-1)?.at ?? cookie;
      log.debug({ logEntries: entries.length, changes: changes.length }, 'accesslog read');
      return { changes, cookie: newest };
    },

    async close() {
      await Promise.all([connections.reads.close(), connections.fullImport.close()]);
    },
  };
}

/** The attributes of a deleted entry the accesslog kept (reqOld lines "name: value"), when configured. */
function parseOld(lines: string[]): { entryUUID?: string; objectClasses: string[] } {
  const objectClassValues: string[] = [];
  let entryUUID: string | undefined;
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === 'entryuuid') entryUUID = value;
    if (name === 'objectclass') objectClassValues.push(value.toLowerCase());
  }
  return { ...(entryUUID === undefined ? {} : { entryUUID }), objectClasses: objectClassValues };
}

/**
 * The object class of a deleted entry: the one whose filter names one of its old objectClasses (when the
 * accesslog keeps reqOld), else the one whose base holds it. The engine keys deletions by externalId
 * alone, so this is informational.
 */
function deletedClass(
  dn: string,
  oldObjectClasses: string[],
  options: LdapDirectoryOptions,
): DirectoryObjectClass {
  for (const objectClass of objectClasses) {
    const filter = options.searches[objectClass].filter.toLowerCase();
    if (oldObjectClasses.some((value) => filter.includes(`(objectclass=${value})`))) return objectClass;
  }
  return classByLocation(dn, options) ?? 'user';
}

function parentOf(dn: string): string {
  const comma = /(?<!\\),/.exec(dn);
  return comma === null ? '' : dn.slice(comma.index + 1);
}

/** A Date as LDAP generalizedTime with microseconds, the form of reqStart. */
function toGeneralizedTime(date: Date): string {
  const iso = date.toISOString(); // 2026-11-23T09:14:34.123Z
  return `${iso.slice(0, 19).replace(/[-T:]/g, '')}.${iso.slice(20, 23)}000Z`;
}
