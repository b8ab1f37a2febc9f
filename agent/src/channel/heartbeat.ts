// Heartbeats keep both ends sure the connection lives: every heartbeatMs the agent reports its version,
// health and queue depth, and three intervals without any frame from the API mean a dead connection (a
// half-open TCP connection never closes by itself).
import type { AgentFrame } from '../../../kernel/channel/protocol.ts';

type HeartbeatFrame = Extract<AgentFrame, { type: 'heartbeat' }>;

/** The agent's health as its heartbeats report it. */
export type AgentHealthReport = HeartbeatFrame['health'];

export function heartbeatFrame(
  report: { version: string; health: AgentHealthReport; queueDepth: number },
  now: Date,
): HeartbeatFrame {
  return { type: 'heartbeat', at: now.toISOString(), ...report };
}

/** Beats at once and then every `intervalMs`, until the API falls silent or the returned stop is called. */
export function startHeartbeat(options: {
  intervalMs: number;
  beat: () => void;
  silentForMs: () => number;
  onSilence: () => void;
}): () => void {
  options.beat();
  const timer = setInterval(() => {
    if (options.silentForMs() > 3 * options.intervalMs) {
      options.onSilence();
      return;
    }
    options.beat();
  }, options.intervalMs);
  return () => {
    clearInterval(timer);
  };
}
