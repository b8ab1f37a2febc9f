import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../../src/infra/process.ts';
import { decodeMessage, encodeMessage } from '../../streams/cloudevents.ts';
import { messageContracts, messageTypes } from '../../kernel/contracts/messages.ts';
import { schemaFileContent } from '../../streams/schema-files.ts';
import { topicCatalog, topicConfig } from '../../streams/topics.ts';
import { topicIds } from '../../kernel/contracts/messages.ts';

const tenantId = '0b8f5d1c-2f57-4a43-9c5e-2d6bb4f9a8a1';
const identityId = '6f9c1a57-0a4b-4d7e-9d35-3f3f0c2b8e11';
const applicationId = '5b0c6c52-8a55-4a36-9f43-6c0d0f2a2b10';
const at = '2026-11-23T10:00:00.000Z';

function identityEnvelope(data: Record<string, unknown>) {
  return encodeMessage({
    id: 'm-1',
    type: 'joinery.identity.event.v1',
    source: '/tests',
    time: at,
    tenantId,
    data: data as never,
  });
}

const valid = {
  tenantId,
  identityId,
  event: {
    type: 'inbound.changed',
    at,
    source: { applicationId, externalId: 'E1' },
    attributes: { mail: 'a@b.c' },
  },
};

describe('message contracts', () => {
  it('round-trips a valid message through CloudEvents headers and the JSON value', () => {
    const message = identityEnvelope(valid);
    expect(message.key).toBe(identityId);
    expect(message.headers).toMatchObject({
      ce_specversion: '1.0',
      ce_type: 'joinery.identity.event.v1',
      ce_tenantid: tenantId,
      ce_dataschema: 'https://joinery.dev/schemas/joinery.identity.event.v1.json',
    });
    const decoded = decodeMessage('identity', { value: message.value as Buffer, headers: message.headers });
    expect(decoded).toMatchObject({ ok: true, envelope: { id: 'm-1', data: valid } });
  });

  it.each([
    [
      'an unknown attribute type',
      { ...valid, event: { ...valid.event, attributes: { mail: { nested: 1 } } } },
      /\/event/,
    ],
    ['a missing identity id', { tenantId, event: valid.event }, /must have required properties identityId/],
    ['a bad instant', { ...valid, event: { ...valid.event, at: 'yesterday' } }, /\/event/],
    ['an extra property', { ...valid, extra: true }, /must not have additional properties/],
  ])('names what is wrong with %s', (_name, data, expected) => {
    const message = identityEnvelope(data);
    const decoded = decodeMessage('identity', { value: message.value as Buffer, headers: message.headers });
    expect(decoded.ok).toBe(false);
    expect(!decoded.ok && decoded.reason).toMatch(expected);
  });

  it('refuses a message type on a topic it does not belong to', () => {
    const message = identityEnvelope(valid);
    const decoded = decodeMessage('pulses', { value: message.value as Buffer, headers: message.headers });
    expect(!decoded.ok && decoded.reason).toBe(
      'ce_type "joinery.identity.event.v1" does not belong on topic pulses; it goes to identity',
    );
  });

  it('publishes every message type as a JSON Schema, and docs/schemas holds the current ones', () => {
    for (const type of messageTypes) {
      const file = readFileSync(join(projectRoot, 'docs', 'schemas', `${type}.json`), 'utf8');
      expect(file, `docs/schemas/${type}.json is stale: run npm run schemas`).toBe(schemaFileContent(type));
      expect(topicIds).toContain(messageContracts[type].topic);
    }
  });

  it('gives bulk topics the configured partition count and the others their own', () => {
    const settings = { topicPrefix: 'acme.', partitions: 24, replicationFactor: 3 };
    expect(topicConfig(settings, 'identity')).toMatchObject({
      topic: 'acme.identity',
      numPartitions: 24,
      replicationFactor: 3,
    });
    expect(topicConfig(settings, 'pulses').numPartitions).toBe(topicCatalog.pulses.partitions);
  });
});
