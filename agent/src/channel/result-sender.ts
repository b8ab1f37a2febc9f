// Sends the results of applied exports back to the API, sealed, one results frame at a time. The store
// keeps each result until the API acknowledges it, so a reconnect sends the unacknowledged ones again and
// a repeated export is answered from the store.
import type { Logger } from 'pino';
import type { AgentFrame } from '../../../kernel/channel/protocol.ts';
import { channelAad, sealBatch } from '../../../kernel/channel/sealing.ts';
import type { WritebackResult } from '../contracts.ts';
import type { AgentStore, Enrolment } from '../queue/agent-store.ts';
import type { ChannelLink } from './channel-socket.ts';

type ExportResultsFrame = Extract<AgentFrame, { type: 'export-results' }>;

/** The batch id the API names in a nack that refuses a results frame (results frames carry none). */
export const RESULTS_BATCH_ID = 'export-results';

export interface ResultSender {
  /** Sends the unacknowledged results, unless a results frame is in flight. */
  send(): void;
  /** The API recorded these results: they leave the store, and the next ones go. */
  acknowledged(exportIds: string[]): void;
  /** The API refused the results frame: they are sent again when new results are ready, or after a reconnect. */
  refused(): void;
}

export function createResultSender(options: {
  link: ChannelLink;
  store: AgentStore;
  enrolment: Enrolment;
  log: Logger;
}): ResultSender {
  const { link, store, log } = options;
  let inflight = false;

  const send = (): void => {
    if (inflight) return;
    const results = store.unackedResults();
    if (results.length === 0) return;
    inflight = true;
    sealResults(options.enrolment, results)
      .then((frame) => {
        link.send(frame);
      })
      .catch((error: unknown) => {
        inflight = false;
        log.error({ error: (error as Error).message }, 'sealing export results failed');
      });
  };

  return {
    send,
    acknowledged(exportIds) {
      store.acknowledgeResults(exportIds);
      inflight = false;
      send();
    },
    refused() {
      inflight = false;
    },
  };
}

/** Seals export results into one frame, each bound to tenant, connector and export id. */
export async function sealResults(
  enrolment: Enrolment,
  results: { exportId: string; result: WritebackResult }[],
): Promise<ExportResultsFrame> {
  const sealed = await sealBatch(
    enrolment.tenantKey.publicKey,
    results.map(({ exportId, result }) => ({
      aad: channelAad({
        direction: 'result',
        tenantId: enrolment.tenantId,
        connectorId: enrolment.connectorId,
        id: exportId,
      }),
      plaintext: Buffer.from(JSON.stringify(result)),
    })),
  );
  return {
    type: 'export-results',
    enc: sealed.enc,
    items: results.map(({ exportId }, index) => ({ exportId, ciphertext: sealed.ciphertexts[index] ?? '' })),
  };
}
