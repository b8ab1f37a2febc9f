// Bounded waits: shutting down must not hang on a client whose peer is gone.

/** Waits for work, at most ms; true when it gave up waiting. A rejection counts as settled. */
export async function settleWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<true>((resolve) => {
    timer = setTimeout(() => {
      resolve(true);
    }, ms);
  });
  try {
    return await Promise.race([
      work.then(
        () => false as const,
        () => false as const,
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
