import { describe, expect, it } from 'vitest';
import { shareReplay } from '../../src/live/logstream-hub.ts';

describe("the events a process reads back from the logstream's tail when it starts", () => {
  it('shares the budget evenly between partitions that hold enough', () => {
    expect(shareReplay([5000, 5000, 5000, 5000], 20_000)).toEqual([5000, 5000, 5000, 5000]);
    expect(shareReplay([9000, 9000], 10_000)).toEqual([5000, 5000]);
  });

  it("gives what an empty or short partition does not need to the others (one tenant's partition gets it all)", () => {
    expect(shareReplay([0, 0, 50_000, 0], 20_000)).toEqual([0, 0, 20_000, 0]);
    expect(shareReplay([100, 30_000, 7000], 20_000)).toEqual([100, 12_900, 7000]);
  });

  it('reads everything when the topic holds less than the budget', () => {
    expect(shareReplay([3, 0, 12], 20_000)).toEqual([3, 0, 12]);
  });
});
