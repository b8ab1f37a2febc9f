import { createHmac, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { LogEvent } from '../../kernel/contracts/messages.ts';
import { escapeCefHeader, escapeCefValue, toCef } from '../../src/siem/cef.ts';
import { toEcs } from '../../src/siem/ecs.ts';
import { toOcsf } from '../../src/siem/ocsf.ts';
import type { SiemEvent } from '../../src/siem/siem-event.ts';
import { octetCounted, syslogMessage } from '../../src/siem/syslog-message.ts';
import { webhookBody, webhookSignature } from '../../src/siem/webhook-transport.ts';

const product = { name: 'Joinery', vendor: 'Joinery', version: '0.1.0' };
const tenantId = randomUUID();

/** A logstream event with only the required fields, then whatever the test adds. */
function logEvent(extra: Partial<LogEvent> = {}): SiemEvent {
  return {
    id: `event-${randomUUID()}`,
    event: {
      tenantId,
      at: '2026-12-06T10:00:00.000Z',
      level: 'info',
      category: 'lifecycle',
      message: 'x',
      ...extra,
    },
  };
}

/** Every field of joinery.log.v1 set. */
function fullEvent(): SiemEvent {
  return logEvent({
    level: 'error',
    category: 'export',
    message: 'export failed | a=b\nsecond line',
    stage: 'export' as never,
    outcome: 'failed' as never,
    runId: randomUUID(),
    identityId: randomUUID(),
    applicationId: randomUUID(),
    objectClass: 'user',
    externalId: 'uid=ada,ou=people',
    actor: { kind: 'service-account', id: 'sa-1', name: 'ops' },
    decidedBy: { kind: 'mapper', name: 'mail' },
    changes: [
      { attribute: 'mail', old: 'a@x', new: 'b@x' },
      { attribute: 'password', new: '***' },
    ],
    errorCode: 'JNY_WRITEBACK_FAILED',
    reason: 'LDAP said no',
  });
}

const requiredOcsf = [
  'activity_id',
  'category_uid',
  'class_uid',
  'type_uid',
  'time',
  'severity_id',
  'metadata',
];

describe('OCSF', () => {
  it('makes an identity created an Account Change: Create with every required field', () => {
    const siem = logEvent({ identityId: randomUUID(), lifecycle: { from: 'joiner', to: 'active' } });
    const ocsf = toOcsf(siem, product);
    for (const field of requiredOcsf) expect(ocsf, field).toHaveProperty(field);
    expect(ocsf).toMatchObject({
      class_uid: 3001,
      category_uid: 3,
      activity_id: 1,
      type_uid: 300101,
      time: Date.parse(siem.event.at),
      severity_id: 1,
      metadata: {
        version: '1.3.0',
        uid: siem.id,
        product: { name: 'Joinery', vendor_name: 'Joinery', version: '0.1.0' },
      },
      user: { uid: siem.event.identityId },
    });
  });

  it('maps disable, delete and enable lifecycle changes to their activities', () => {
    const activity = (from: string, to: string) =>
      toOcsf(logEvent({ identityId: randomUUID(), lifecycle: { from, to } }), product).activity_id;
    expect(activity('active', 'disabled')).toBe(5);
    expect(activity('leaver', 'deleted')).toBe(6);
    expect(activity('disabled', 'active')).toBe(2);
    expect(activity('active', 'leaver')).toBe(99);
  });

  it('makes a Vault group event Group Management with the group, and a join User Access Management', () => {
    const groupId = randomUUID();
    const group = toOcsf(logEvent({ groupId, message: 'group created' }), product);
    expect(group).toMatchObject({
      class_uid: 3006,
      activity_id: 6,
      type_uid: 300606,
      group: { uid: groupId },
    });
    const identityId = randomUUID();
    const join = toOcsf(
      logEvent({
        category: 'join',
        identityId,
        applicationId: randomUUID(),
        externalId: 'uid=ada',
        message: 'joined by hand',
      }),
      product,
    );
    expect(join).toMatchObject({
      class_uid: 3005,
      activity_id: 1,
      type_uid: 300501,
      user: { uid: identityId },
    });
    expect(join.privileges).toEqual([expect.stringContaining('uid=ada')]);
    const unjoin = toOcsf(
      logEvent({ category: 'join', identityId: randomUUID(), message: 'unjoined by hand' }),
      product,
    );
    expect(unjoin).toMatchObject({ class_uid: 3005, activity_id: 2 });
  });

  it('carries every field of the event, and an event with none of the optional ones still has a user', () => {
    const siem = fullEvent();
    const ocsf = toOcsf(siem, product);
    expect(ocsf).toMatchObject({
      severity_id: 4,
      status_id: 2,
      status_code: 'JNY_WRITEBACK_FAILED',
      status_detail: 'LDAP said no',
      actor: { user: { uid: 'sa-1', name: 'ops' } },
      metadata: { correlation_uid: siem.event.runId, tenant_uid: tenantId },
      unmapped: {
        stage: 'export',
        outcome: 'failed',
        application_id: siem.event.applicationId,
        object_class: 'user',
        external_id: 'uid=ada,ou=people',
        decided_by: { kind: 'mapper', name: 'mail' },
        changes: siem.event.changes,
      },
    });
    const bare = toOcsf(logEvent({ category: 'admin', message: 'plan applied' }), product);
    expect(bare).toMatchObject({ class_uid: 3001, activity_id: 99, user: { uid: tenantId }, status_id: 0 });
  });
});

describe('ECS', () => {
  it('is an iam event with type, action, outcome and the user or group', () => {
    const identityId = randomUUID();
    const ecs = toEcs(
      logEvent({ identityId, lifecycle: { from: 'active', to: 'disabled' }, outcome: 'succeeded' as never }),
      product,
    );
    expect(ecs).toMatchObject({
      event: { category: ['iam'], type: ['change', 'user'], action: 'user-disable', outcome: 'success' },
      user: { id: identityId },
    });
    const groupId = randomUUID();
    expect(toEcs(logEvent({ groupId, message: 'group deleted' }), product)).toMatchObject({
      event: { category: ['iam'], type: ['deletion', 'group'], outcome: 'unknown' },
      group: { id: groupId },
    });
    const full = toEcs(fullEvent(), product);
    expect(full).toMatchObject({
      event: { outcome: 'failure', code: 'JNY_WRITEBACK_FAILED', reason: 'LDAP said no' },
      source: { user: { id: 'sa-1', name: 'ops', roles: ['service-account'] } },
      joinery: {
        stage: 'export',
        external_id: 'uid=ada,ou=people',
        decided_by: { kind: 'mapper', name: 'mail' },
      },
    });
  });
});

describe('CEF', () => {
  it('escapes pipes and backslashes in the header, equals signs, backslashes and line breaks in values', () => {
    expect(escapeCefHeader('a|b\\c\nd')).toBe('a\\|b\\\\c d');
    expect(escapeCefValue('a=b\\c\nd\re')).toBe('a\\=b\\\\c\\nd\\re');
    const line = toCef(fullEvent(), product);
    expect(line).toMatch(/^CEF:0\|Joinery\|Joinery\|0\.1\.0\|export:access:/);
    expect(line).toContain('|export failed \\| a=b second line|8|');
    expect(line).toContain('msg=export failed | a\\=b\\nsecond line');
    expect(line).toContain('outcome=failed');
    expect(line).toContain('cs5Label=object cs5=user/uid\\=ada,ou\\=people');
    expect(line).not.toContain('\n');
  });

  it('leaves out what the event does not have', () => {
    const line = toCef(logEvent(), product);
    expect(line).not.toMatch(/cs2|cs3|cs4|duid|outcome=|flexString/);
    expect(line).toContain(`cs1Label=tenantId cs1=${tenantId}`);
  });
});

describe('syslog framing', () => {
  it('writes RFC 5424 with the event id in the structured data, octet-counted in bytes', () => {
    const siem = logEvent({ message: 'é' });
    const message = syslogMessage(
      { facility: 13, hostname: 'host one', appName: 'joinery' },
      siem.id,
      siem.event,
      '{"é":1}',
    );
    expect(message).toBe(
      `<110>1 2026-12-06T10:00:00.000Z host_one joinery - lifecycle [joinery@32473 eventId="${siem.id}" tenantId="${tenantId}"] {"é":1}`,
    );
    const frame = octetCounted(message).toString('utf8');
    const [length, ...rest] = frame.split(' ');
    expect(Number(length)).toBe(Buffer.byteLength(rest.join(' ')));
  });
});

describe('webhook signature', () => {
  it('is HMAC-SHA256 of "<timestamp>.<body>", verifiable by a receiver', () => {
    const body = webhookBody('ocsf', [{ ...logEvent(), payload: '{"a":1}' }]);
    expect(JSON.parse(body)).toEqual({ format: 'ocsf', events: [{ a: 1 }] });
    const header = webhookSignature('k'.repeat(32), 1_700_000_000, body);
    const [t, v1] = header.split(',').map((part) => part.split('=')[1]);
    expect(t).toBe('1700000000');
    expect(v1).toBe(createHmac('sha256', 'k'.repeat(32)).update(`1700000000.${body}`).digest('hex'));
  });
});
