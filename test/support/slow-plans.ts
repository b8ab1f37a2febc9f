// Plans that pass every limit yet take long to check: each expression's `matches` pattern is one of its
// own, `a{1000}…` (RE2 compiles it to 1,000 instructions; the counted repetitions of a pattern may add up
// to 1,000 at most), so checking that every pattern is RE2 compiles one such program per expression — a
// millisecond or two each, seconds for a plan of a thousand or two.

/** A small valid plan: a directory application whose `noted` mappers are the given expressions. */
export function planOf(expressions: string[]): string {
  return [
    'version: 1',
    'vault:',
    '  attributes:',
    '    mail: { type: string }',
    '    noted: { type: bool }',
    'applications:',
    '  - name: directory',
    '    type: ldap',
    '    objectClasses:',
    '      user:',
    '        attributes:',
    '          mail: {}',
    '          note: {}',
    '    inbound:',
    '      - { vault: mail, from: mail }',
    ...expressions.map((expression) => `      - { vault: noted, expression: '${expression}' }`),
  ].join('\n');
}

/** `count` expressions, each matching a pattern of its own that RE2 compiles to 1,000 instructions. */
export function slowPlan(count: number): string {
  return planOf(
    Array.from({ length: count }, (_, index) => `source.note.matches("a{1000}x${String(index)}")`),
  );
}

/** A plan text of about 1 MiB (the most a plan may be) whose YAML alone takes over 64 MB to parse. */
export function heavyYamlPlan(): string {
  return `version: 1\nx: [${'1,'.repeat(500_000)}1]\n`;
}
