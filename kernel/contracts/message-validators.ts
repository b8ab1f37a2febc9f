// Compiled validators of the message contracts, one per message type, compiled on first use: the engine
// validates what it consumes and the agent gateway what agents send, with the same code and the same
// reasons (messageProblem).
import { Type, type TSchema } from 'typebox';
import { Compile, type Validator } from 'typebox/compile';
import { messageContracts, type MessageType } from './messages.ts';
import { findUnstorableText, type ValuePath } from './storable-text.ts';

const validators = new Map<MessageType, Validator<Record<PropertyKey, TSchema>>>();

export function messageValidator(type: MessageType): Validator<Record<PropertyKey, TSchema>> {
  let validator = validators.get(type);
  if (validator === undefined) {
    validator = Compile(messageContracts[type].schema);
    validators.set(type, validator);
  }
  return validator;
}

/** How many problems a reason names: the first few are enough to fix a producer. */
const MAX_PROBLEMS = 5;

/**
 * Why data is not a valid message of its type, each problem naming its field (`/attributes/mail must be
 * string`), or undefined when it is one. Beyond the schema, no string may hold text PostgreSQL cannot store
 * (a NUL, a lone surrogate): refused here, naming where, rather than failing a batch's transaction later.
 */
/**
 * Whether JSON text may hold a string PostgreSQL cannot store: a NUL or a surrogate can only be written as a
 * `\u` escape (a raw control character is not JSON, and bytes that are no UTF-8 decode as U+FFFD), so text
 * without one needs no walk through its values — the engine's hot path, where nearly every message is clean.
 */
export function mayHoldUnstorableText(json: string): boolean {
  return /\\u(?:0000|[dD][89a-fA-F])/.test(json);
}

/** `json`: the text `data` was parsed from, when there is one (skips the walk for clean text). */
export function messageProblem(type: MessageType, data: unknown, json?: string): string | undefined {
  if (!messageValidator(type).Check(data)) {
    const problems = schemaProblems(type, data);
    // Every error is described, but a reason must name something even if a new kind of error is not.
    if (problems.length === 0) problems.push('/ does not match the schema');
    return `data does not match ${type}: ${problems.slice(0, MAX_PROBLEMS).join('; ')}`;
  }
  const unstorable =
    json !== undefined && !mayHoldUnstorableText(json) ? undefined : findUnstorableText(data);
  if (unstorable !== undefined) return `data${pointer(unstorable.path)}: ${unstorable.problem}`;
  return undefined;
}

/** A JSON Pointer to a value (`/attributes/mail/0`), `/` for the whole of it. */
function pointer(path: ValuePath): string {
  if (path.length === 0) return '/';
  return path.map((part) => `/${String(part).replaceAll('~', '~0').replaceAll('/', '~1')}`).join('');
}

type SchemaErrors = ReturnType<Validator['Errors']>;

/** Schema errors as text, an unknown property by its name (quoted, cut at 128 characters). */
function describeErrors(errors: SchemaErrors, prefix = ''): string[] {
  const problems = new Set<string>();
  for (const error of errors) {
    const at = `${prefix}${error.instancePath}` || '/';
    // TypeBox buffers 8 errors: an unknown property first comes as a `boolean` error at the property.
    if (error.keyword === 'boolean' && error.schemaPath.endsWith('/additionalProperties'))
      problems.add(`${at.slice(0, 256)} is not a known property`);
    if (error.keyword === 'boolean' || error.keyword === 'anyOf') continue;
    const unknown = error.keyword === 'additionalProperties' ? error.params.additionalProperties : undefined;
    const names = unknown
      ?.slice(0, MAX_PROBLEMS)
      .map((name) => JSON.stringify(name.slice(0, 128)))
      .join(', ');
    problems.add(
      names === undefined
        ? `${at} ${error.message}`
        : `${at} must not have additional properties: ${names}${(unknown?.length ?? 0) > MAX_PROBLEMS ? ', …' : ''}`,
    );
  }
  return [...problems];
}

/**
 * A property whose schema is a union of objects told apart by their `type` (an identity event, a pulse):
 * its members' validators by type. Reporting the union's errors as they come would name every member's
 * mismatch (TypeBox buffers 8 errors), so the member the data's type names is validated on its own.
 */
interface DiscriminatedUnion {
  members: Map<string, Validator<Record<PropertyKey, TSchema>>>;
  whole: Validator<Record<PropertyKey, TSchema>>;
}

interface Shape {
  /** The message's schema with each discriminated union replaced by Unknown (validated on its own). */
  shell: Validator<Record<PropertyKey, TSchema>>;
  unions: Map<string, DiscriminatedUnion>;
}

const shapes = new Map<MessageType, Shape>();

function shapeOf(type: MessageType): Shape {
  const known = shapes.get(type);
  if (known !== undefined) return known;
  const schema = messageContracts[type].schema as TSchema & {
    properties: Record<string, TSchema & { anyOf?: TSchema[] }>;
    required?: string[];
  };
  const unions = new Map<string, DiscriminatedUnion>();
  const properties: Record<string, TSchema> = { ...schema.properties };
  for (const [name, property] of Object.entries(schema.properties)) {
    const literals = property.anyOf?.map(
      (member) => (member as { properties?: { type?: { const?: unknown } } }).properties?.type?.const,
    );
    if (property.anyOf === undefined || literals === undefined) continue;
    if (!literals.every((literal): literal is string => typeof literal === 'string')) continue;
    const members = new Map(
      literals.map((literal, index) => [literal, Compile(property.anyOf?.[index] as TSchema)] as const),
    );
    unions.set(name, { members, whole: Compile(property) });
    properties[name] =
      schema.required?.includes(name) === true ? Type.Unknown() : Type.Optional(Type.Unknown());
  }
  const shape = {
    shell:
      unions.size === 0
        ? messageValidator(type)
        : Compile(Type.Object(properties, { additionalProperties: false })),
    unions,
  };
  shapes.set(type, shape);
  return shape;
}

function schemaProblems(type: MessageType, data: unknown): string[] {
  const { shell, unions } = shapeOf(type);
  const problems = describeErrors(shell.Errors(data));
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return problems;
  for (const [name, union] of unions) {
    if (!Object.hasOwn(data, name)) continue;
    const value = (data as Record<string, unknown>)[name];
    const memberType = (value as { type?: unknown } | null)?.type;
    const member = typeof memberType === 'string' ? union.members.get(memberType) : undefined;
    if (member !== undefined) problems.push(...describeErrors(member.Errors(value), `/${name}`));
    else if (typeof value === 'object' && value !== null && !Array.isArray(value))
      problems.push(`/${name}/type must be one of ${[...union.members.keys()].join(', ')}`);
    else problems.push(...describeErrors(union.whole.Errors(value), `/${name}`));
  }
  return problems;
}
