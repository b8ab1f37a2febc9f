// What a service account's API key may do. A key holds one or more scopes; `admin` implies every other,
// `write` and `approve` each imply `read`. Every authenticated route declares the one scope it needs.
export const scopes = ['read', 'write', 'approve', 'admin'] as const;
export type Scope = (typeof scopes)[number];

const implied: Record<Scope, readonly Scope[]> = {
  read: ['read'],
  write: ['write', 'read'],
  approve: ['approve', 'read'],
  admin: scopes,
};

export function isScope(value: unknown): value is Scope {
  return typeof value === 'string' && (scopes as readonly string[]).includes(value);
}

/** Every scope the held ones grant, in catalogue order. */
export function grantedScopes(held: readonly Scope[]): Scope[] {
  const granted = new Set(held.flatMap((scope) => implied[scope]));
  return scopes.filter((scope) => granted.has(scope));
}

export function grants(held: readonly Scope[], needed: Scope): boolean {
  return held.some((scope) => implied[scope].includes(needed));
}

/** The requested scopes the holder does not have itself (a key only issues keys with scopes it has). */
export function scopesBeyond(held: readonly Scope[], requested: readonly Scope[]): Scope[] {
  return requested.filter((scope) => !grants(held, scope));
}
