// CloudEvents 1.0 in Kafka's binary mode: the attributes travel as ce_* headers, the data as the JSON
// value. decodeMessage validates a consumed message completely (headers, JSON, schema, tenant) and says
// exactly what is wrong, so a bad message can go to deadletter with its reason.
import type { IHeaders, Message } from 'kafkajs';
import { messageProblem } from '../kernel/contracts/message-validators.ts';
import { findUnstorableText } from '../kernel/contracts/storable-text.ts';
import {
  isMessageType,
  messageContracts,
  schemaUrl,
  type MessageData,
  type MessageType,
  type TopicId,
} from '../kernel/contracts/messages.ts';

export interface Envelope<T extends MessageType = MessageType> {
  /** Unique per message; deterministic when derived from what caused it, so a redelivery keeps it. */
  id: string;
  type: T;
  /** Who produced it, as a URI reference, e.g. /joinery/engine or /agents/<connectorId>. */
  source: string;
  time: string;
  tenantId: string;
  data: MessageData<T>;
}

export type DecodeResult =
  { ok: true; envelope: Envelope } | { ok: false; reason: string; code: 'JNY_MESSAGE_INVALID' };

/** A CloudEvent as a Kafka record whose value is still text (the JSON data). */
export interface EncodedRecord {
  key: string;
  value: string;
  headers: Record<string, string>;
}

export function encodeRecord<T extends MessageType>(envelope: Envelope<T>): EncodedRecord {
  return { key: recordKey(envelope), value: JSON.stringify(envelope.data), headers: recordHeaders(envelope) };
}

/** The record's key, by the message's contract (an object's or an identity's messages share a partition). */
export function recordKey<T extends MessageType>(envelope: Envelope<T>): string {
  return (messageContracts[envelope.type].key as (data: MessageData<T>) => string)(envelope.data);
}

/** The CloudEvent's attributes as Kafka headers (binary content mode). */
export function recordHeaders(envelope: Omit<Envelope, 'data'>): Record<string, string> {
  return {
    ce_specversion: '1.0',
    ce_id: envelope.id,
    ce_type: envelope.type,
    ce_source: envelope.source,
    ce_time: envelope.time,
    ce_tenantid: envelope.tenantId,
    ce_dataschema: schemaUrl(envelope.type),
    'content-type': 'application/json',
  };
}

/** The message as a Kafka record; `json` is the data's JSON when the caller has it already (sized it). */
export function encodeMessage<T extends MessageType>(envelope: Envelope<T>, json?: string): Message {
  if (json !== undefined)
    return { key: recordKey(envelope), value: Buffer.from(json), headers: recordHeaders(envelope) };
  const record = encodeRecord(envelope);
  return { ...record, value: Buffer.from(record.value) };
}

function header(headers: IHeaders | undefined, name: string): string | undefined {
  const value = headers?.[name];
  if (value === undefined) return undefined;
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined ? undefined : first.toString();
}

/**
 * The longest reason decodeMessage gives: it quotes what it refuses (a header, a property name), and the
 * reason travels as a dead letter's header next to the original value, which may be near the broker's limit.
 */
export const MAX_REASON_LENGTH = 1024;

export function decodeMessage(
  topic: TopicId,
  message: { value: Buffer | null; headers?: IHeaders },
): DecodeResult {
  const fail = (reason: string): DecodeResult => ({
    ok: false,
    reason: reason.length > MAX_REASON_LENGTH ? `${reason.slice(0, MAX_REASON_LENGTH - 1)}…` : reason,
    code: 'JNY_MESSAGE_INVALID',
  });
  const { headers } = message;
  for (const name of ['ce_specversion', 'ce_id', 'ce_type', 'ce_source', 'ce_time', 'ce_tenantid']) {
    const value = header(headers, name);
    if (value === undefined) return fail(`missing CloudEvents header ${name}`);
    // The id and source are kept with what the message causes: text PostgreSQL cannot store is refused.
    const unstorable = findUnstorableText(value);
    if (unstorable !== undefined) return fail(`CloudEvents header ${name} ${unstorable.problem}`);
  }
  if (header(headers, 'ce_specversion') !== '1.0') {
    return fail(`unsupported ce_specversion "${header(headers, 'ce_specversion') ?? ''}"; expected "1.0"`);
  }
  const type = header(headers, 'ce_type') ?? '';
  if (!isMessageType(type)) return fail(`unknown ce_type "${type}"`);
  if (messageContracts[type].topic !== topic) {
    return fail(
      `ce_type "${type}" does not belong on topic ${topic}; it goes to ${messageContracts[type].topic}`,
    );
  }
  const time = header(headers, 'ce_time') ?? '';
  if (Number.isNaN(Date.parse(time))) return fail(`ce_time "${time}" is not an RFC 3339 timestamp`);
  const contentType = header(headers, 'content-type');
  if (contentType !== undefined && !contentType.startsWith('application/json')) {
    return fail(`content-type "${contentType}" is not application/json`);
  }
  if (message.value === null)
    return fail('the message has no value (a tombstone) where JSON data was expected');
  let data: unknown;
  const json = message.value.toString('utf8');
  try {
    data = JSON.parse(json);
  } catch (error) {
    return fail(`value is not JSON: ${(error as Error).message}`);
  }
  const problem = messageProblem(type, data, json);
  if (problem !== undefined) return fail(problem);
  const tenantId = header(headers, 'ce_tenantid') ?? '';
  const dataTenant = (data as { tenantId: string }).tenantId;
  if (dataTenant !== tenantId) {
    return fail(`ce_tenantid "${tenantId}" differs from data.tenantId "${dataTenant}"`);
  }
  return {
    ok: true,
    envelope: {
      id: header(headers, 'ce_id') ?? '',
      type,
      source: header(headers, 'ce_source') ?? '',
      time,
      tenantId,
      data: data as MessageData<typeof type>,
    },
  };
}
