// HTTPS webhooks: a batch of events POSTed as JSON, signed with HMAC-SHA256 over "<timestamp>.<body>" and
// sent as `Joinery-Signature: t=<unix seconds>,v1=<hex>` (docs/siem.md shows how a receiver verifies it).
// Only a 2xx acknowledges a batch; anything else, a timeout or a refused connection is retried.
import { createHmac } from 'node:crypto';
import { request } from 'node:https';
import { SiemDeliveryError, describeError } from '../../kernel/errors.ts';
import type { WebhookSettings } from './destination.schema.ts';
import type { FormattedEvent, SiemTransport } from './payloads.ts';

const TIMEOUT_MS = 15_000;
export const SIGNATURE_HEADER = 'joinery-signature';

/** The signature header's value for a body sent at `timestamp` (unix seconds). */
export function webhookSignature(secret: string, timestamp: number, body: string): string {
  const mac = createHmac('sha256', secret)
    .update(`${String(timestamp)}.${body}`)
    .digest('hex');
  return `t=${String(timestamp)},v1=${mac}`;
}

/** The request body: the events' payloads (JSON objects, or CEF lines as strings) in order. */
export function webhookBody(format: string, events: readonly FormattedEvent[]): string {
  const items = events.map((event) => (format === 'cef' ? JSON.stringify(event.payload) : event.payload));
  return `{"format":${JSON.stringify(format)},"events":[${items.join(',')}]}`;
}

export function createWebhookTransport(options: {
  settings: WebhookSettings;
  format: string;
  secret: string;
  destinationId: string;
  now?: () => number;
}): SiemTransport {
  const url = new URL(options.settings.url);
  // The URL may carry a token in its query: logs and errors name the origin and path only.
  const where = `${url.origin}${url.pathname}`;
  const batchSize = options.settings.batchSize ?? 100;
  const post = (body: string, firstId: string): Promise<number> =>
    new Promise((resolve, reject) => {
      const timestamp = Math.floor((options.now ?? Date.now)() / 1000);
      const sent = request(
        url,
        {
          method: 'POST',
          timeout: TIMEOUT_MS,
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            'user-agent': 'joinery-siem',
            [SIGNATURE_HEADER]: webhookSignature(options.secret, timestamp, body),
            'joinery-destination': options.destinationId,
            'joinery-delivery': firstId,
          },
          ...(options.settings.ca === undefined ? {} : { ca: options.settings.ca }),
        },
        (response) => {
          response.resume();
          response.on('end', () => {
            resolve(response.statusCode ?? 0);
          });
          response.on('error', reject);
        },
      );
      sent.on('timeout', () => sent.destroy(new Error(`no answer within ${String(TIMEOUT_MS)} ms`)));
      sent.on('error', reject);
      sent.end(body);
    });
  return {
    async deliver(events) {
      for (let start = 0; start < events.length; start += batchSize) {
        const chunk = events.slice(start, start + batchSize);
        const first = chunk[0];
        if (first === undefined) continue;
        const status = await post(webhookBody(options.format, chunk), first.id).catch((error: unknown) => {
          throw new SiemDeliveryError(`webhook ${where} unreachable: ${describeError(error)}`, {
            cause: error,
          });
        });
        if (status < 200 || status > 299)
          throw new SiemDeliveryError(`webhook ${where} answered ${String(status)}`, { details: { status } });
      }
    },
    async close() {
      // Nothing kept open between batches.
    },
  };
}
