// Opens the export instructions the API sends, sealed to this agent's key and bound to tenant, connector
// and export id, and hands them on to the writeback. A batch that does not open is not answered: its
// lease runs out and the API delivers it again.
import type { Logger } from 'pino';
import { parseOpened, type ServerFrame } from '../../../kernel/channel/protocol.ts';
import {
  channelAad,
  importPrivateKey,
  openBatch,
  type HpkePrivateKey,
} from '../../../kernel/channel/sealing.ts';
import type { ErrorCode } from '../../../kernel/errors.ts';
import type { ExportInstruction } from '../contracts.ts';
import type { AgentKeys, Enrolment } from '../queue/agent-store.ts';

type ExportsFrame = Extract<ServerFrame, { type: 'exports' }>;

/** An export instruction as the channel delivers it: opened, with its password in clear when it has one. */
export interface ReceivedExport {
  exportId: string;
  instruction: Omit<ExportInstruction, 'secret'>;
  password?: string;
}

export interface ExportReceiver {
  receive(frame: ExportsFrame): Promise<void>;
}

export function createExportReceiver(options: {
  enrolment: Enrolment;
  keys: AgentKeys;
  log: Logger;
  onExports: (exports: ReceivedExport[]) => void;
}): ExportReceiver {
  const { enrolment } = options;
  // Imported once, on the first delivery, and kept across reconnects.
  let privateKey: Promise<HpkePrivateKey> | undefined;
  const key = (): Promise<HpkePrivateKey> =>
    (privateKey ??= importPrivateKey(options.keys.encryption.privateKey));

  return {
    async receive(frame) {
      let opened: Uint8Array[];
      try {
        opened = await openBatch(
          await key(),
          frame.enc,
          frame.items.map((item) => ({
            ciphertext: item.ciphertext,
            aad: channelAad({
              direction: 'down',
              tenantId: enrolment.tenantId,
              connectorId: enrolment.connectorId,
              id: item.exportId,
            }),
          })),
        );
      } catch (error) {
        options.log.error(
          { code: 'JNY_SEAL_INVALID' satisfies ErrorCode, exports: frame.items.length },
          (error as Error).message,
        );
        return;
      }
      // A payload that opens but is not JSON fails the frame, and with it the connection.
      options.onExports(
        frame.items.map((item, index) => toReceivedExport(item.exportId, opened[index] ?? new Uint8Array())),
      );
    },
  };
}

function toReceivedExport(exportId: string, opened: Uint8Array): ReceivedExport {
  const payload = parseOpened(opened, `export ${exportId}`) as {
    instruction: ReceivedExport['instruction'];
    password?: string;
  };
  return {
    exportId,
    instruction: payload.instruction,
    ...(payload.password === undefined ? {} : { password: payload.password }),
  };
}
