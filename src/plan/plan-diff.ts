// The diff between two versions of a plan's text, as a unified patch. Myers' diff of two unrelated texts
// takes time in the product of their lengths (two 150 KB plans whose every line differs: a minute), so it
// stops at MAX_DIFF_EDITS changed lines and the patch then replaces every line, built in linear time.
import { createTwoFilesPatch, formatPatch } from 'diff';

/** Changed lines beyond which the patch replaces the whole text (no reader follows more, line by line). */
export const MAX_DIFF_EDITS = 2_000;
/** Longest the line-by-line diff may run before the whole-text patch is given instead. */
const DIFF_TIMEOUT_MS = 2_000;

export interface PlanText {
  /** What the patch calls it, e.g. "version 3". */
  name: string;
  text: string;
}

export function planDiff(previous: PlanText, next: PlanText): string {
  return (
    createTwoFilesPatch(previous.name, next.name, previous.text, next.text, undefined, undefined, {
      maxEditLength: MAX_DIFF_EDITS,
      timeout: DIFF_TIMEOUT_MS,
    }) ?? wholeTextPatch(previous, next)
  );
}

/** A patch with one hunk that removes every line of `previous` and adds every line of `next`. */
function wholeTextPatch(previous: PlanText, next: PlanText): string {
  const linesOf = (text: string, sign: string): string[] => {
    if (text === '') return [];
    const lines = text.split('\n');
    const endsWithNewline = lines.at(-1) === '';
    if (endsWithNewline) lines.pop();
    const signed = lines.map((line) => `${sign}${line}`);
    return endsWithNewline ? signed : [...signed, '\\ No newline at end of file'];
  };
  const removed = linesOf(previous.text, '-');
  const added = linesOf(next.text, '+');
  const count = (lines: string[]): number => lines.filter((line) => !line.startsWith('\\')).length;
  const oldLines = count(removed);
  const newLines = count(added);
  return formatPatch({
    oldFileName: previous.name,
    newFileName: next.name,
    oldHeader: undefined,
    newHeader: undefined,
    hunks: [
      {
        // formatPatch writes the start of an empty side as 0, as diff(1) does.
        oldStart: 1,
        oldLines,
        newStart: 1,
        newLines,
        lines: [...removed, ...added],
      },
    ],
  });
}
