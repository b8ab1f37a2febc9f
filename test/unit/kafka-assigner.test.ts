import { describe, expect, it } from 'vitest';
import { assignSubscribed } from '../../streams/kafka-assigner.ts';

const partitions = (count: number) => () => Array.from({ length: count }, (_, index) => index);

describe('the subscription-aware round robin', () => {
  it("gives each topic's partitions only to the members subscribed to it", () => {
    const assignment = assignSubscribed(
      [
        { memberId: 'prod-1', topics: ['prod.imports'] },
        { memberId: 'staging-1', topics: ['staging.imports'] },
        { memberId: 'prod-2', topics: ['prod.imports'] },
      ],
      ['prod.imports', 'staging.imports'],
      partitions(4),
    );
    expect(Object.fromEntries(assignment)).toEqual({
      'prod-1': { 'prod.imports': [0, 2] },
      'prod-2': { 'prod.imports': [1, 3] },
      'staging-1': { 'staging.imports': [0, 1, 2, 3] },
    });
  });

  it('gives a group whose members share their topics what kafkajs would: one turn across every topic', () => {
    const assignment = assignSubscribed(
      [
        { memberId: 'b', topics: ['t1', 't2'] },
        { memberId: 'a', topics: ['t1', 't2'] },
      ],
      ['t1', 't2'],
      partitions(3),
    );
    expect(Object.fromEntries(assignment)).toEqual({
      a: { t1: [0, 2], t2: [1] },
      b: { t1: [1], t2: [0, 2] },
    });
  });

  it('leaves a topic nobody subscribed to unassigned, and a member with nothing to read empty', () => {
    const assignment = assignSubscribed(
      [
        { memberId: 'a', topics: ['t1'] },
        { memberId: 'b', topics: ['t1'] },
      ],
      ['t1', 'orphan'],
      partitions(1),
    );
    expect(Object.fromEntries(assignment)).toEqual({ a: { t1: [0] }, b: {} });
  });
});
