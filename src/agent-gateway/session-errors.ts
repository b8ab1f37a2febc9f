// How a frame that failed ends its session, pure: the error frame the agent is told (a catalogue code and
// a message) and the WebSocket close code. The agent's own mistakes (credentials, protocol) are refusals;
// anything else is the gateway's trouble, which the agent retries after reconnecting.
import { closeCodes } from '../../kernel/channel/protocol.ts';
import { describeError, JoineryError, UnauthenticatedError, type ErrorCode } from '../../kernel/errors.ts';

export interface SessionEnd {
  /** `unauthenticated` and `refused` are the agent's doing (logged as warnings); `failed` is the gateway's. */
  kind: 'unauthenticated' | 'refused' | 'failed';
  closeCode: number;
  code: ErrorCode;
  message: string;
}

export function sessionEndFor(error: unknown): SessionEnd {
  if (error instanceof UnauthenticatedError) {
    return {
      kind: 'unauthenticated',
      closeCode: closeCodes.unauthenticated,
      code: error.code,
      message: error.message,
    };
  }
  if (error instanceof JoineryError && !error.retriable && error.httpStatus < 500) {
    return { kind: 'refused', closeCode: closeCodes.protocol, code: error.code, message: error.message };
  }
  return {
    kind: 'failed',
    closeCode: closeCodes.unavailable,
    code: 'JNY_UNAVAILABLE',
    message: `the gateway could not handle the frame: ${describeError(error)}`,
  };
}
