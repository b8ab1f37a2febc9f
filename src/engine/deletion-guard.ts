// The deletion guard: a pure decision whether deletions are too many to make without an administrator.
// Import: a completed full run's would-be deletions, per object class, against the objects of that class the
// application holds. Export: an application's deletes, disables and deprovisioning in the last 24 hours,
// against the objects it holds. The form is the same: a count, and a percentage once the application holds
// more than `minObjectsForPercent` objects (docs/configuration.md, "Deletion guard").

/** The limits of one application. */
export interface DeletionLimits {
  /** More deletions than this trip the guard. */
  maxCount: number;
  /** More deletions than this percentage of the objects trip the guard (where there are enough objects). */
  maxPercent: number;
}

/** The defaults, in the spirit of the trusted systems: 500, or 20% where the application holds more than 100 objects. */
export const DEFAULT_DELETION_LIMITS: DeletionLimits = { maxCount: 500, maxPercent: 20 };

/** The percentage applies only where the application holds more objects than this. */
export const MIN_OBJECTS_FOR_PERCENT = 100;

/** Deletions and objects of one object class (or of the whole application, for the export guard). */
export interface DeletionCount {
  objectClass: string;
  /** What would be deleted. */
  deletions: number;
  /** The objects held before the deletions (deleted ones included in neither). */
  objects: number;
}

export type GuardDecision =
  | { hold: false }
  | {
      hold: true;
      /** The classes past a limit, with the limit each passed. */
      tripped: (DeletionCount & { limit: 'count' | 'percent'; percent: number })[];
      reason: string;
    };

/** The limit a class passes, if any: the count first, then the percentage. */
export function trippedLimit(count: DeletionCount, limits: DeletionLimits): 'count' | 'percent' | undefined {
  if (count.deletions > limits.maxCount) return 'count';
  if (count.objects > MIN_OBJECTS_FOR_PERCENT && count.deletions * 100 > limits.maxPercent * count.objects)
    return 'percent';
  return undefined;
}

/** Decides whether deletions are held: when any object class passes a limit. */
export function decideDeletions(counts: DeletionCount[], limits: DeletionLimits): GuardDecision {
  const tripped = counts.flatMap((count) => {
    const limit = trippedLimit(count, limits);
    if (limit === undefined) return [];
    const percent = count.objects === 0 ? 100 : Math.round((count.deletions * 1000) / count.objects) / 10;
    return [{ ...count, limit, percent }];
  });
  if (tripped.length === 0) return { hold: false };
  const reason =
    'deletion guard: ' +
    tripped
      .map(
        (entry) =>
          `${String(entry.deletions)} of ${String(entry.objects)} ${entry.objectClass} objects (${String(entry.percent)}%) ` +
          (entry.limit === 'count'
            ? `would be deleted, more than maxCount ${String(limits.maxCount)}`
            : `would be deleted, more than maxPercent ${String(limits.maxPercent)}%`),
      )
      .join('; ') +
    '; held for an administrator (release or discard the run)';
  return { hold: true, tripped, reason };
}

/** An application's limits from its plan settings, defaults for what it does not say. */
export function deletionLimits(setting: Partial<DeletionLimits> | undefined): DeletionLimits {
  return {
    maxCount: setting?.maxCount ?? DEFAULT_DELETION_LIMITS.maxCount,
    maxPercent: setting?.maxPercent ?? DEFAULT_DELETION_LIMITS.maxPercent,
  };
}
