// Text PostgreSQL can store. It refuses the NUL character (U+0000) in text and jsonb, and a lone UTF-16
// surrogate is not Unicode: jsonb refuses its \ud800 escape, and text would silently store U+FFFD instead.
// The API edge, the plan loader and message decoding refuse such text with the path of the value, before
// anything is written.

export type ValuePath = (string | number)[];

export interface UnstorableText {
  /** Where the string is, from the value given: property names and array indexes. */
  path: ValuePath;
  /** What is wrong with it, e.g. "contains a NUL character (U+0000)". */
  problem: string;
}

function textProblem(text: string): string | undefined {
  if (text.includes('\u0000')) return 'contains a NUL character (U+0000), which cannot be stored';
  if (!text.isWellFormed())
    return 'contains a lone UTF-16 surrogate (an unpaired \\uD800-\\uDFFF), which is not valid Unicode';
  return undefined;
}

/**
 * The first string (or property name) in a value that cannot be stored, with its path; undefined when every
 * one can. Walks with an explicit stack, so a deeply nested body cannot overflow the call stack.
 */
export function findUnstorableText(value: unknown): UnstorableText | undefined {
  const stack: { value: unknown; path: ValuePath }[] = [{ value, path: [] }];
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    const { value: current, path } = next;
    if (typeof current === 'string') {
      const problem = textProblem(current);
      if (problem !== undefined) return { path, problem };
    } else if (Array.isArray(current)) {
      for (let index = current.length - 1; index >= 0; index--)
        stack.push({ value: current[index] as unknown, path: [...path, index] });
    } else if (typeof current === 'object' && current !== null) {
      const entries = Object.entries(current);
      for (const [key] of entries) {
        const problem = textProblem(key);
        if (problem !== undefined) return { path, problem: `a property name ${problem}` };
      }
      for (let index = entries.length - 1; index >= 0; index--) {
        const [key, child] = entries[index] as [string, unknown];
        stack.push({ value: child, path: [...path, key] });
      }
    }
  }
  return undefined;
}
