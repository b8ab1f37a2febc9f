// What every writeback operation is given: a bound client, the directory's options, and the subject (the
// DN the export works on, once known, so that a failure can name it).
import type { Client } from 'ldapts';
import type { LdapDirectoryOptions } from '../directory-options.ts';

export type DirectoryKind = LdapDirectoryOptions['kind'];

export interface Subject {
  dn?: string;
}

export interface WriteContext {
  client: Client;
  options: LdapDirectoryOptions;
  subject: Subject;
}

/** Where an operation left its object: its DN ('' once deleted) and its anchor. */
export interface Located {
  dn: string;
  externalId: string;
}
