// What a plan's `scim` settings must say beyond their schema, checked with the rest of the plan
// (src/plan/check-plan.ts), and the settings with their defaults as the SCIM connector uses them.
import type { ApplicationPlan, ScimSettings } from '../../plan/plan.schema.ts';
import {
  defaultGroupMapping,
  defaultUserMapping,
  mappingFor,
  parseScimPath,
  type ScimPath,
} from './scim-mapping.ts';

export interface ScimSettingsProblem {
  /** Below the application's `scim` (e.g. ['users', 'attributes', 'mail']). */
  path: (string | number)[];
  message: string;
}

/** The settings as the connector uses them: every default filled in, the mappings parsed. */
export interface ResolvedScimSettings {
  baseUrl: string;
  auth: ScimSettings['auth'];
  timeoutMs: number;
  concurrency: number;
  pageSize: number;
  update: 'patch' | 'put';
  delete: 'delete' | 'deactivate';
  groupMembers: 'patch' | 'patch-one-per-operation' | 'replace';
  delta: boolean;
  users: { objectClass: string; match: string; mapping: Map<string, ScimPath> };
  groups: {
    objectClass: string;
    match: string;
    mapping: Map<string, ScimPath>;
    membersAttribute: string;
  } | null;
}

const loopback = new Set(['localhost', '127.0.0.1', '[::1]']);

/** A URL the connector may call: https, or http to this host only (a test service, a local bridge). */
function urlProblem(text: string): string | null {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `"${text}" is not a URL`;
  }
  if (url.protocol === 'https:') return null;
  if (url.protocol === 'http:' && loopback.has(url.hostname)) return null;
  return `"${text}" must be https (http only on loopback): a token travels with every request`;
}

/** The object class written as SCIM Users: the one named, else export.objectClass, else the first user class. */
function userClass(application: ApplicationPlan): string | undefined {
  const named = application.scim?.users?.objectClass ?? application.export?.objectClass;
  if (named !== undefined) return named;
  return Object.entries(application.objectClasses).find(([, spec]) => (spec.kind ?? 'user') === 'user')?.[0];
}

function groupClass(application: ApplicationPlan): string | undefined {
  const named = application.scim?.groups?.objectClass;
  if (named !== undefined) return named;
  return Object.entries(application.objectClasses).find(([, spec]) => spec.kind === 'group')?.[0];
}

export function scimSettingsProblems(application: ApplicationPlan): ScimSettingsProblem[] {
  const settings = application.scim;
  if (settings === undefined) return [];
  if (application.type !== 'scim')
    return [{ path: [], message: `scim settings apply to type: scim applications, not ${application.type}` }];
  const problems: ScimSettingsProblem[] = [];
  const base = urlProblem(settings.baseUrl);
  if (base !== null) problems.push({ path: ['baseUrl'], message: base });
  const { bearer, oauth2 } = settings.auth;
  if ((bearer === undefined) === (oauth2 === undefined))
    problems.push({ path: ['auth'], message: 'name exactly one of bearer (env:NAME) and oauth2' });
  if (oauth2 !== undefined) {
    const token = urlProblem(oauth2.tokenUrl);
    if (token !== null) problems.push({ path: ['auth', 'oauth2', 'tokenUrl'], message: token });
  }
  const classes = Object.keys(application.objectClasses).join(', ');
  const check = (section: 'users' | 'groups', objectClass: string | undefined, kind: 'user' | 'group') => {
    const configured = settings[section];
    if (objectClass === undefined) {
      if (configured !== undefined)
        problems.push({
          path: [section],
          message: `application ${application.name} declares no ${kind} object class to write as SCIM ${section}`,
        });
      return;
    }
    const spec = application.objectClasses[objectClass];
    if (spec === undefined) {
      problems.push({
        path: [section, 'objectClass'],
        message: `unknown object class "${objectClass}" of application ${application.name} (known: ${classes})`,
      });
      return;
    }
    if (((spec.kind ?? 'user') === 'group') !== (kind === 'group'))
      problems.push({
        path: [section, 'objectClass'],
        message: `object class ${objectClass} is of kind ${spec.kind ?? 'user'}, not ${kind}`,
      });
    const known = Object.keys(spec.attributes);
    for (const [attribute, text] of Object.entries(configured?.attributes ?? {})) {
      if (!known.includes(attribute))
        problems.push({
          path: [section, 'attributes', attribute],
          message: `"${attribute}" is not an attribute of object class ${objectClass} (known: ${known.join(', ')})`,
        });
      const path = parseScimPath(text);
      if ('problem' in path)
        problems.push({ path: [section, 'attributes', attribute], message: path.problem });
    }
    for (const [, attribute] of (configured?.match ?? '').matchAll(/\{([^}]*)\}/g))
      if (attribute !== undefined && !known.includes(attribute))
        problems.push({
          path: [section, 'match'],
          message: `{${attribute}} is not an attribute of object class ${objectClass} (known: ${known.join(', ')})`,
        });
  };
  check('users', userClass(application), 'user');
  check('groups', groupClass(application), 'group');
  return problems;
}

/** The settings with their defaults; throws an Error naming what is missing when they cannot work. */
export function resolveScimSettings(application: ApplicationPlan): ResolvedScimSettings {
  const settings = application.scim;
  if (settings === undefined)
    throw new Error(
      `application ${application.name} has no scim settings: add scim: { baseUrl: <the SCIM service root>, auth: { bearer: env:<variable> } } to it in the plan`,
    );
  const problems = scimSettingsProblems(application);
  if (problems.length > 0)
    throw new Error(
      problems.map((problem) => `scim.${problem.path.join('.')}: ${problem.message}`).join('; '),
    );
  const users = userClass(application);
  if (users === undefined) throw new Error(`application ${application.name} declares no user object class`);
  const groups = groupClass(application);
  const declared = (objectClass: string) =>
    Object.keys(application.objectClasses[objectClass]?.attributes ?? {});
  const groupSpec = groups === undefined ? undefined : application.objectClasses[groups];
  return {
    baseUrl: settings.baseUrl,
    auth: settings.auth,
    timeoutMs: (settings.timeoutSeconds ?? 30) * 1000,
    concurrency: settings.concurrency ?? 4,
    pageSize: settings.pageSize ?? 100,
    update: settings.update ?? 'patch',
    delete: settings.delete ?? 'delete',
    groupMembers: settings.groupMembers ?? 'patch',
    delta: (settings.delta ?? 'lastModified') === 'lastModified',
    users: {
      objectClass: users,
      match: settings.users?.match ?? 'userName eq "{userName}"',
      mapping: mappingFor(defaultUserMapping, declared(users), settings.users?.attributes),
    },
    groups:
      groups === undefined
        ? null
        : {
            objectClass: groups,
            match: settings.groups?.match ?? 'displayName eq "{displayName}"',
            mapping: mappingFor(defaultGroupMapping, declared(groups), settings.groups?.attributes),
            membersAttribute: groupSpec?.members ?? 'members',
          },
  };
}
