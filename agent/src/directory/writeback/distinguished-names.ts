// Distinguished names as the writeback handles them: escaping a value into a DN, splitting off the RDN,
// and comparing DNs the directory echoes back.

/** RFC 4514 escaping of an attribute value inside a DN. */
export function escapeDnValue(value: string): string {
  return value
    .replace(/[\\,+"<>;=]/g, (c) => `\\${c}`)
    .replace(/^[ #]/, (c) => `\\${c}`)
    .replace(/ $/, '\\ ');
}

/** The first RDN's attribute type and (unescaped) value. */
export function splitRdn(dn: string): [string, string] {
  const rdn = dn.slice(0, dn.search(/[^\\],/) + 1) || dn;
  const equals = rdn.indexOf('=');
  return [rdn.slice(0, equals), rdn.slice(equals + 1).replace(/\\(.)/g, '$1')];
}

export function parentDn(dn: string): string {
  return dn.slice(dn.search(/[^\\],/) + 2);
}

/** Enough normalization to compare DNs the directory echoes back: case and spaces after commas. */
export function normalizeDn(dn: string): string {
  return dn.replace(/,\s+/g, ',').toLowerCase();
}
