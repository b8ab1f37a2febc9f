// Plans that pass every limit yet take long to check: each expression's `matches` pattern repeats
// `a{1000}` (7 characters that RE2 compiles to 1,000 instructions), so checking that it is RE2 compiles a
// program of tens of thousands of instructions — about 80 ms an expression at 60 repeats.

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

/** `count` expressions matching a pattern of `repeats` × `a{1000}` (at most 585 fit the pattern limit). */
export function slowPlan(count: number, repeats = 60): string {
  return planOf(Array.from({ length: count }, () => `source.note.matches("${'a{1000}'.repeat(repeats)}")`));
}
