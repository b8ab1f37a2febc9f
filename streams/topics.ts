// The topic catalog: every topic Joinery reads or writes, with its key, partitioning and retention, in one
// place. docs/topics.md describes the same topics for producers and consumers outside Joinery.
import type { ITopicConfig } from 'kafkajs';
import type { BusAdmin } from './bus.ts';
import { retryTransient } from '../kernel/retry.ts';
import { topicIds, type TopicId } from '../kernel/contracts/messages.ts';

export interface TopicSpec {
  id: TopicId;
  /** What each message's key is: every message with one key lands on one partition, in order. */
  key: string;
  /** 'bulk' topics take the configured partition count; the others keep a fixed, small one. */
  volume: 'bulk' | 'fixed';
  partitions: number;
  retentionMs: number;
  /** Written by producers outside Joinery (agents, SaaS connectors): a public API. */
  public: boolean;
  description: string;
}

const DAY = 24 * 60 * 60 * 1000;

export const topicCatalog: Readonly<Record<TopicId, TopicSpec>> = {
  imports: {
    id: 'imports',
    key: 'applicationId:externalId of the application object',
    volume: 'bulk',
    partitions: 12,
    retentionMs: 7 * DAY,
    public: true,
    description:
      'Application objects read by connectors and agents (full and delta imports), and run markers.',
  },
  pulses: {
    id: 'pulses',
    key: 'applicationId:externalId of the application object',
    volume: 'fixed',
    partitions: 6,
    retentionMs: 1 * DAY,
    public: true,
    description: 'Real-time changes (enable, disable, password) that must not wait behind bulk imports.',
  },
  schedules: {
    id: 'schedules',
    key: 'identityId',
    volume: 'fixed',
    partitions: 6,
    retentionMs: 7 * DAY,
    public: false,
    description: 'Durable timers that came due (e.g. a scheduled deletion), delivered to their identity.',
  },
  identity: {
    id: 'identity',
    key: 'identityId',
    volume: 'bulk',
    partitions: 12,
    retentionMs: 7 * DAY,
    public: false,
    description: 'Inbound events for one Vault identity, consumed by its actor.',
  },
  outbound: {
    id: 'outbound',
    key: 'identityId',
    volume: 'bulk',
    partitions: 12,
    retentionMs: 7 * DAY,
    public: false,
    description: 'Changes an identity actor decided (create, update, enable, disable, password, delete).',
  },
  exports: {
    id: 'exports',
    key: 'applicationId:externalId of the target object',
    volume: 'bulk',
    partitions: 12,
    retentionMs: 7 * DAY,
    public: true,
    description:
      'Operations for external connectors (applications with connector: external) to write to their application.',
  },
  'export-results': {
    id: 'export-results',
    key: 'applicationId:exportId of the export answered',
    volume: 'fixed',
    partitions: 6,
    retentionMs: 7 * DAY,
    public: true,
    description: 'Results of the exports that external connectors carried out, recorded in the export queue.',
  },
  logstream: {
    id: 'logstream',
    key: 'tenantId',
    volume: 'fixed',
    partitions: 6,
    retentionMs: 30 * DAY,
    public: true,
    description: 'Audit events of every stage, for audit history, live viewers and SIEMs.',
  },
  deadletter: {
    id: 'deadletter',
    key: 'the original message key',
    volume: 'fixed',
    partitions: 3,
    retentionMs: 30 * DAY,
    public: true,
    description:
      'Messages that could not be processed, with the reason, the original bytes and their origin.',
  },
};

export interface TopicSettings {
  topicPrefix: string;
  partitions: number;
  replicationFactor: number;
}

/** The broker-side name of a topic: the configured prefix, then its id. */
export function topicName(settings: Pick<TopicSettings, 'topicPrefix'>, id: TopicId): string {
  return `${settings.topicPrefix}${id}`;
}

export function topicConfig(settings: TopicSettings, id: TopicId): ITopicConfig {
  const spec = topicCatalog[id];
  return {
    topic: topicName(settings, id),
    numPartitions: spec.volume === 'bulk' ? settings.partitions : spec.partitions,
    replicationFactor: settings.replicationFactor,
    configEntries: [
      { name: 'retention.ms', value: String(spec.retentionMs) },
      { name: 'cleanup.policy', value: 'delete' },
    ],
  };
}

/** Creates the topics that are missing; existing topics are left as they are. Returns the ones created. */
export async function ensureTopics(admin: BusAdmin, settings: TopicSettings): Promise<string[]> {
  const existing = new Set(await admin.listTopics());
  const missing = topicIds
    .map((id) => topicConfig(settings, id))
    .filter((config) => !existing.has(config.topic));
  if (missing.length === 0) return [];
  // A broker still electing leaders answers "does not host this topic-partition" for a moment.
  await retryTransient(async () => {
    try {
      await admin.createTopics({ topics: missing, waitForLeaders: true });
    } catch (error) {
      // Another process created them in the meantime: that is the outcome we wanted.
      if ((error as { type?: string }).type !== 'TOPIC_ALREADY_EXISTS') throw error;
    }
  });
  return missing.map((config) => config.topic);
}
