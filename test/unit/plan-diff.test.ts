import { applyPatch, createTwoFilesPatch } from 'diff';
import { describe, expect, it } from 'vitest';
import { MAX_DIFF_EDITS, planDiff } from '../../src/plan/plan-diff.ts';

const lines = (count: number, prefix: string): string =>
  Array.from({ length: count }, (_, i) => `# ${prefix} ${String(i)}\n`).join('');

describe('the diff between two plan versions', () => {
  it('is the line-by-line unified diff when few lines changed', () => {
    const previous = lines(100, 'a');
    const next = previous.replace('# a 50\n', '# b 50\n');
    const diff = planDiff({ name: 'version 1', text: previous }, { name: 'version 2', text: next });
    expect(diff).toBe(createTwoFilesPatch('version 1', 'version 2', previous, next));
    expect(diff).toContain('-# a 50\n+# b 50');
  });

  it('replaces the whole text, in linear time, when more lines changed than a reader follows', () => {
    // 20,000 lines that all differ: Myers' diff alone takes about a minute.
    const previous = lines(20_000, 'a');
    const next = lines(20_000, 'b');
    const started = performance.now();
    const diff = planDiff({ name: 'version 1', text: previous }, { name: 'version 2', text: next });
    expect(performance.now() - started).toBeLessThan(3_000);
    expect(diff).toContain('@@ -1,20000 +1,20000 @@');
    expect(applyPatch(previous, diff)).toBe(next);
    expect(MAX_DIFF_EDITS).toBeLessThan(20_000);
  });

  it('keeps what the text lacks: a last line without a newline, an empty version', () => {
    const previous = `${lines(3_000, 'a')}last`;
    const next = lines(3_000, 'b');
    expect(applyPatch(previous, planDiff({ name: 'v1', text: previous }, { name: 'v2', text: next }))).toBe(
      next,
    );
    expect(applyPatch('', planDiff({ name: 'v1', text: '' }, { name: 'v2', text: next }))).toBe(next);
  });
});
