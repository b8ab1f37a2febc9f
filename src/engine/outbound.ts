// The Outbound decision, pure: given an identity as the Vault holds it now, one target application's
// settings, what Joinery last exported there and the object the application holds, decide the export
// operations that bring the application in line — only real differences, in order. Level-triggered: it
// looks at state, not at the event that woke it, so a replayed or duplicated event decides nothing new.
import type { Attributes, AttributeValue, SealedSecret } from '../../kernel/contracts/identity-events.ts';
import type { OutboundChange } from '../../kernel/contracts/identity-events.ts';

/** What Joinery last decided for one identity in one application (the outbound_object row). */
export interface TargetState {
  objectClass: string;
  externalId: string | null;
  /** The attributes last exported. */
  desired: Attributes;
  state: 'provisioned' | 'deprovisioned';
  enabled: boolean;
  /**
   * Decided while the application was in sandbox mode: the operations were only a report, so once it is
   * out of sandbox the decision counts for nothing. Absent: false.
   */
  sandbox?: boolean;
}

export interface OutboundInput {
  /** joiner, active, disabled, leaver or deleted. */
  identityState: string;
  /** Whether the identity belongs in the application (classification, filter, join). */
  belongs: boolean;
  /** The outbound mappers' result: every mapped attribute, null when the Vault has no value. */
  desired: Attributes;
  objectClass: string;
  deprovision: 'disable' | 'delete' | 'keep';
  /** The application object joined to the identity, as the last import saw it. */
  joined?: { externalId: string; attributes: Attributes } | undefined;
  previous?: TargetState | undefined;
  /** Password changes since the last decision, in order (sealed, passed through). */
  passwords: SealedSecret[];
  /** The application is in sandbox mode: the operations are a report, nothing leaves. */
  sandbox?: boolean;
}

export interface ExportOperation {
  operation: OutboundChange;
  externalId: string | null;
  attributes?: Attributes;
  secret?: SealedSecret;
}

export interface OutboundDecision {
  operations: ExportOperation[];
  /** The new target state, or undefined when nothing is (or was) provisioned. */
  next: TargetState | undefined;
}

function sameValue(a: AttributeValue | undefined, b: AttributeValue | undefined): boolean {
  if (a === b) return true;
  if ((a === undefined || a === null) && (b === undefined || b === null)) return true;
  if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
  return a.every((value, index) => value === b[index]);
}

/** The desired attributes that differ from `current` (only the mapped ones: others are not ours). */
export function attributeChanges(current: Attributes, desired: Attributes): Attributes | undefined {
  let changes: Attributes | undefined;
  for (const [name, value] of Object.entries(desired)) {
    if (sameValue(current[name], value)) continue;
    changes ??= {};
    changes[name] = value ?? null;
  }
  return changes;
}

function withoutNulls(attributes: Attributes): Attributes {
  return Object.fromEntries(Object.entries(attributes).filter(([, value]) => value !== null));
}

export function decideOutbound(input: OutboundInput): OutboundDecision {
  const { joined } = input;
  const sandbox = input.sandbox === true;
  // What a sandbox only reported was never exported: out of sandbox, the application holds what it holds
  // (its joined object, if any), and that is what is compared.
  const previous = input.previous?.sandbox === true && !sandbox ? undefined : input.previous;
  const externalId = joined?.externalId ?? previous?.externalId ?? null;
  const provisioned = previous?.state === 'provisioned';
  const operations: ExportOperation[] = [];
  const next = (state: Partial<TargetState>): TargetState => ({
    objectClass: input.objectClass,
    externalId,
    desired: previous?.desired ?? {},
    state: 'provisioned',
    enabled: previous?.enabled ?? true,
    ...(sandbox ? { sandbox } : {}),
    ...state,
  });

  if (input.identityState === 'deleted') {
    // The identity is gone: so is every object Joinery provisioned or joined for it.
    const owned = previous === undefined ? joined !== undefined : provisioned;
    if (!owned) return { operations, next: previous };
    return {
      operations: [{ operation: 'delete', externalId }],
      next: next({ state: 'deprovisioned', enabled: false }),
    };
  }
  if (!input.belongs || input.identityState === 'joiner') {
    if (!provisioned) return { operations, next: previous };
    if (input.deprovision === 'delete') operations.push({ operation: 'delete', externalId });
    else if (input.deprovision === 'disable' && previous.enabled)
      operations.push({ operation: 'disable', externalId });
    return {
      operations,
      next: next({
        state: 'deprovisioned',
        enabled: input.deprovision === 'disable' ? false : previous.enabled,
      }),
    };
  }

  const enabled = input.identityState === 'active';
  if (!provisioned && externalId === null) {
    operations.push({ operation: 'create', externalId: null, attributes: withoutNulls(input.desired) });
    if (!enabled) operations.push({ operation: 'disable', externalId: null });
  } else {
    // Compare with what was exported; a newly joined object with what the application holds.
    const current = provisioned ? previous.desired : (joined?.attributes ?? {});
    const changes = attributeChanges(current, input.desired);
    if (changes !== undefined) operations.push({ operation: 'update', externalId, attributes: changes });
    const wasEnabled = provisioned ? previous.enabled : true;
    if (enabled !== wasEnabled) operations.push({ operation: enabled ? 'enable' : 'disable', externalId });
  }
  for (const secret of input.passwords) operations.push({ operation: 'password', externalId, secret });
  return { operations, next: next({ desired: input.desired, enabled }) };
}

/** Whether two target states are the same (then there is nothing to write). */
export function sameTarget(a: TargetState | undefined, b: TargetState | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined) return false;
  return (
    a.state === b.state &&
    a.enabled === b.enabled &&
    a.externalId === b.externalId &&
    a.objectClass === b.objectClass &&
    (a.sandbox === true) === (b.sandbox === true) &&
    attributeChanges(a.desired, b.desired) === undefined &&
    attributeChanges(b.desired, a.desired) === undefined
  );
}
