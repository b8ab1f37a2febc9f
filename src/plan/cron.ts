// Cron schedules (five fields, UTC), parsed with cron-parser: a validation message for the sync plan, and
// the next run after an instant for the orchestrator.
import { CronExpressionParser } from 'cron-parser';

/** Why a cron expression is not valid, or undefined when it is. */
export function cronProblem(expression: string): string | undefined {
  if (expression.trim().split(/\s+/).length !== 5)
    return `cron ${JSON.stringify(expression)} needs five fields (minute hour day-of-month month day-of-week)`;
  try {
    CronExpressionParser.parse(expression, { tz: 'UTC' });
    return undefined;
  } catch (error) {
    return `cron ${JSON.stringify(expression)} is not valid: ${error instanceof Error ? error.message : String(error)}`;
  }
}

/** The first time the expression fires strictly after `after`. */
export function nextCronRun(expression: string, after: Date): Date {
  return CronExpressionParser.parse(expression, { tz: 'UTC', currentDate: after }).next().toDate();
}
