// The message bus the engine runs on: the part of the Kafka client API it uses, so that a kafkajs client
// and the embedded bus (streams/embedded-bus.ts, kept in PostgreSQL) are interchangeable. Topics,
// partitions, offsets and consumer groups mean the same on both.
import type { IHeaders, ITopicConfig } from 'kafkajs';

export interface BusMessage {
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers?: IHeaders;
}

export interface BusBatchPayload {
  batch: { topic: string; partition: number; messages: BusMessage[] };
  /** Marks offsets up to this one as handled; commitOffsetsIfNecessary() records them for the group. */
  resolveOffset: (offset: string) => void;
  commitOffsetsIfNecessary: () => Promise<void>;
  heartbeat: () => Promise<void>;
  /** False once the consumer is stopping. */
  isRunning: () => boolean;
  /** True once the partition has been assigned to another member of the group. */
  isStale: () => boolean;
}

export interface BusConsumer {
  connect(): Promise<void>;
  subscribe(options: { topics: string[]; fromBeginning?: boolean }): Promise<void>;
  run(options: {
    eachBatchAutoResolve?: boolean;
    partitionsConsumedConcurrently?: number;
    eachBatch: (payload: BusBatchPayload) => Promise<void>;
  }): Promise<void>;
  disconnect(): Promise<void>;
  /**
   * Where the consumer reads a partition from, instead of its committed offset or `fromBeginning`: called
   * right after run() (before it resolves), it applies from the first fetch.
   */
  seek(position: { topic: string; partition: number; offset: string }): void;
  /**
   * Kafka only: the consumer stopped on an error; `restart` says whether the client starts it again
   * itself (kafkajs does for retriable errors only). The embedded bus retries for ever and never stops.
   */
  on?(
    event: 'consumer.crash',
    listener: (event: { payload: { error: Error; restart: boolean } }) => void,
  ): unknown;
  /** Kafka only: the consumer joined its group (and has its partitions). */
  on?(event: 'consumer.group_join', listener: () => void): unknown;
}

export interface BusProducer {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  sendBatch(options: {
    acks?: number;
    topicMessages: {
      topic: string;
      messages: { key?: string | Buffer | null; value: string | Buffer | null; headers?: IHeaders }[];
    }[];
  }): Promise<unknown>;
}

export interface BusAdmin {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  listTopics(): Promise<string[]>;
  /** The topics' partitions (only their number is used: where a key lands, streams/partitioner.ts). */
  fetchTopicMetadata(options: {
    topics: string[];
  }): Promise<{ topics: { name: string; partitions: unknown[] }[] }>;
  createTopics(options: { topics: ITopicConfig[]; waitForLeaders?: boolean }): Promise<boolean>;
  /** Each partition's first retained offset (low) and the offset its next message will have (high). */
  fetchTopicOffsets(topic: string): Promise<{ partition: number; low: string; high: string }[]>;
  /** Forgets consumer groups that have no member running: their committed offsets go. */
  deleteGroups(groupIds: string[]): Promise<unknown>;
}

export interface Bus {
  admin(): BusAdmin;
  producer(options?: { idempotent?: boolean; maxInFlightRequests?: number }): BusProducer;
  consumer(options: {
    groupId: string;
    sessionTimeout?: number;
    heartbeatInterval?: number;
    maxBytesPerPartition?: number;
    maxWaitTimeInMs?: number;
  }): BusConsumer;
}
