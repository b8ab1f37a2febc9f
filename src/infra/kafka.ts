// A single-node Apache Kafka broker in KRaft mode, run from Maven Central jars with the machine's Java.
// Kafka 4.3.1 is the newest release whose artifacts are all on Maven Central (4.4.0 lacks kafka-tools)
// and it works with kafkajs 2.2.4 (produce, consumer groups, offsets), checked here.
import { existsSync, mkdirSync, readdirSync, writeFileSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { InfraError } from '../../kernel/errors.ts';
import type { InfraService } from './service.ts';
import { createDaemonService } from './daemon-service.ts';
import { ensureDebianPackages, infraDir, run } from './process.ts';

export const KAFKA_VERSION = '4.3.1';
const LOG4J_VERSION = '2.24.3';

export interface KafkaOptions {
  /** Instance name: its state lives in .infra/<name>. A second instance lets a test restart its own broker. */
  name?: string;
  port?: number;
  controllerPort?: number;
  heapMb?: number;
}

export interface KafkaService extends InfraService {
  readonly brokers: string[];
}

export function createKafka(options: KafkaOptions = {}): KafkaService {
  const name = options.name ?? 'kafka';
  const port = options.port ?? 19092;
  const controllerPort = options.controllerPort ?? port + 1;
  const heapMb = options.heapMb ?? 1024;
  const host = '127.0.0.1';
  const dir = infraDir(name);
  const pidFile = join(dir, 'kafka.pid');
  const logFile = join(dir, 'broker.log');
  const endpoint = `${host}:${port}`;

  return {
    ...createDaemonService({
      name,
      label: `Kafka (${name})`,
      host,
      port,
      endpoint,
      dir,
      pidFile,
      logFile,
      healthy: () => servesItsPartitions(endpoint),
      portTakenMessage: `port ${String(port)} is taken by something that does not answer as a Kafka broker`,
      startTimeoutMs: 60_000,
      stopGraceMs: 30_000,
      prepare: async () => {
        const libs = await ensureKafkaJars();
        const dataDir = join(dir, 'data');
        writeFileSync(
          join(dir, 'server.properties'),
          serverProperties({ host, port, controllerPort, dataDir }),
        );
        writeFileSync(join(dir, 'log4j2.properties'), LOG4J2_PROPERTIES);
        const classpath = `${libs}/*`;
        if (!existsSync(join(dataDir, 'meta.properties'))) {
          rmSync(dataDir, { recursive: true, force: true });
          await run('java', [
            '-cp',
            classpath,
            'kafka.tools.StorageTool',
            'format',
            // One argument: an id that starts with "-" (base64url) must not read as an option.
            `--cluster-id=${kafkaClusterId()}`,
            '-c',
            join(dir, 'server.properties'),
          ]);
        }
        return {
          command: 'java',
          args: [
            `-Xms256m`,
            `-Xmx${String(heapMb)}m`,
            `-Dlog4j2.configurationFile=${join(dir, 'log4j2.properties')}`,
            `-Dkafka.logs.dir=${dir}`,
            '-cp',
            classpath,
            'kafka.Kafka',
            join(dir, 'server.properties'),
          ],
          cwd: dir,
        };
      },
    }),
    brokers: [endpoint],
  };
}

/** Up means: it answers, a controller is elected, and every partition it holds has a leader. */
async function servesItsPartitions(endpoint: string): Promise<boolean> {
  const admin = new Kafka({
    clientId: 'joinery-infra',
    brokers: [endpoint],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1000,
    requestTimeout: 2000,
    retry: { retries: 0 },
  }).admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    if (cluster.brokers.length === 0 || cluster.controller === null) return false;
    // A restarted broker answers before it leads its partitions again (it is registered, then unfenced):
    // until then every produce and fetch is refused with "does not host this topic-partition".
    const { topics } = await admin.fetchTopicMetadata();
    return topics.every((topic) => topic.partitions.every((partition) => partition.leader >= 0));
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** Kafka's jars, fetched once from Maven Central into ~/.cache/joinery (Maven's ~/.m2 caches them too). */
async function ensureKafkaJars(): Promise<string> {
  const cacheDir = join(
    process.env.JOINERY_CACHE_DIR ?? join(homedir(), '.cache', 'joinery'),
    `kafka-${KAFKA_VERSION}`,
  );
  const libs = join(cacheDir, 'libs');
  if (existsSync(libs) && readdirSync(libs).some((file) => file.startsWith('kafka_2.13-'))) return libs;
  await ensureDebianPackages([
    { binary: 'java', packages: ['openjdk-17-jre-headless'] },
    { binary: 'mvn', packages: ['maven'] },
  ]);
  mkdirSync(cacheDir, { recursive: true });
  writeFileSync(join(cacheDir, 'pom.xml'), kafkaPom());
  const partial = `${libs}.partial`;
  rmSync(partial, { recursive: true, force: true });
  await run(
    'mvn',
    ['-q', '-B', 'dependency:copy-dependencies', '-DincludeScope=runtime', `-DoutputDirectory=${partial}`],
    {
      cwd: cacheDir,
    },
  ).catch((error: unknown) => {
    throw new InfraError(`could not fetch Kafka ${KAFKA_VERSION} from Maven Central (is it reachable?)`, {
      cause: error,
    });
  });
  rmSync(libs, { recursive: true, force: true });
  // Rename last, so an interrupted download is never taken for a complete one.
  await run('mv', [partial, libs]);
  return libs;
}

function kafkaPom(): string {
  const dependency = (group: string, artifact: string, version: string): string =>
    `<dependency><groupId>${group}</groupId><artifactId>${artifact}</artifactId><version>${version}</version></dependency>`;
  return `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.joinery.infra</groupId><artifactId>kafka-runtime</artifactId><version>${KAFKA_VERSION}</version>
  <packaging>pom</packaging>
  <dependencies>
    ${dependency('org.apache.kafka', 'kafka_2.13', KAFKA_VERSION)}
    ${dependency('org.apache.kafka', 'kafka-tools', KAFKA_VERSION)}
    ${dependency('org.apache.logging.log4j', 'log4j-core', LOG4J_VERSION)}
    ${dependency('org.apache.logging.log4j', 'log4j-slf4j-impl', LOG4J_VERSION)}
  </dependencies>
</project>
`;
}

function serverProperties(p: {
  host: string;
  port: number;
  controllerPort: number;
  dataDir: string;
}): string {
  return `# Written by joinery infra: a single-node KRaft broker on loopback for development and tests.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@${p.host}:${p.controllerPort}
listeners=PLAINTEXT://${p.host}:${p.port},CONTROLLER://${p.host}:${p.controllerPort}
advertised.listeners=PLAINTEXT://${p.host}:${p.port}
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=${p.dataDir}
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.retention.hours=168
`;
}

const LOG4J2_PROPERTIES = `status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = warn
logger.apache.name = org.apache.kafka
logger.apache.level = warn
logger.started.name = kafka.server.KafkaRaftServer
logger.started.level = info
`;

/** A KRaft cluster id: 16 random bytes, base64url without padding. */
function kafkaClusterId(): string {
  return randomBytes(16).toString('base64url');
}
