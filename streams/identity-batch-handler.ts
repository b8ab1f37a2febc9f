// The identity actors as a partition consumer's batch handler: a chunk's messages become identity work
// (identity-work.ts), which the actor host (identity-host.ts) runs in the chunk's transaction.
import type { TopicId } from '../kernel/contracts/messages.ts';
import { createIdentityHost, type IdentityHostOptions } from './identity-host.ts';
import { toIdentityWork } from './identity-work.ts';
import type { BatchHandler } from './partition-batch.ts';
import { topicName, type TopicSettings } from './topics.ts';

export type IdentityBatchHandlerOptions = Omit<IdentityHostOptions, 'topics' | 'source'> & {
  /** The engine's group id (its effects' ce_source) and topics (where its effects are published). */
  settings: { groupId: string; topics: TopicSettings };
};

export function createIdentityBatchHandler(options: IdentityBatchHandlerOptions): BatchHandler {
  const { settings, ...hostOptions } = options;
  const name = (id: TopicId) => topicName(settings.topics, id);
  const host = createIdentityHost({
    ...hostOptions,
    topics: { outbound: name('outbound'), logstream: name('logstream') },
    source: `/joinery/engine/${settings.groupId}`,
  });
  return async (tx, messages) => {
    const { work, rejected } = await toIdentityWork(tx, messages);
    const result = await host.run(tx, work);
    return { ...result, rejected: [...rejected, ...result.rejected] };
  };
}
