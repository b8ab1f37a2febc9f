// Enrolment over HTTPS: the agent's public keys and the one-time client key to POST /v1/agent/enrol,
// trying the API URLs in order. Uses node:http(s) so a private CA can be trusted for this call too.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import {
  ConflictError,
  UnauthenticatedError,
  UnavailableError,
  ValidationError,
} from '../../../kernel/errors.ts';
import {
  EnrolmentResponseSchema,
  matches,
  type EnrolmentRequest,
  type EnrolmentResponse,
} from '../../../kernel/channel/protocol.ts';

interface HttpAnswer {
  status: number;
  body: string;
}

function postJson(url: URL, body: unknown, ca: string[] | undefined, timeoutMs: number): Promise<HttpAnswer> {
  const payload = Buffer.from(JSON.stringify(body));
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const request = send(
      url,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': payload.length },
        timeout: timeoutMs,
        ...(ca === undefined ? {} : { ca }),
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
        });
        response.on('error', reject);
      },
    );
    request.on('timeout', () => request.destroy(new Error(`no answer within ${String(timeoutMs)} ms`)));
    request.on('error', reject);
    request.end(payload);
  });
}

function errorMessage(body: string): string {
  try {
    const parsed = JSON.parse(body) as { error?: { code?: string; message?: string } };
    return `${parsed.error?.code ?? 'error'}: ${parsed.error?.message ?? body}`;
  } catch {
    return body.slice(0, 200);
  }
}

/** Enrols at the first API URL that answers; a refusal (401/409/400) is final, not tried elsewhere. */
export async function enrol(options: {
  urls: string[];
  ca?: string[];
  request: EnrolmentRequest;
  timeoutMs?: number;
}): Promise<{ response: EnrolmentResponse; apiUrl: string }> {
  const failures: string[] = [];
  for (const base of options.urls) {
    const url = new URL('v1/agent/enrol', base.endsWith('/') ? base : `${base}/`);
    let answer: HttpAnswer;
    try {
      answer = await postJson(url, options.request, options.ca, options.timeoutMs ?? 15_000);
    } catch (error) {
      failures.push(`${base}: ${(error as Error).message}`);
      continue;
    }
    if (answer.status === 200) {
      const parsed: unknown = JSON.parse(answer.body);
      if (!matches(EnrolmentResponseSchema, parsed)) {
        throw new ValidationError(`${base} answered the enrolment with an unexpected body`);
      }
      return { response: parsed, apiUrl: base };
    }
    const message = `enrolment refused by ${base}: ${errorMessage(answer.body)}`;
    if (answer.status === 401) throw new UnauthenticatedError(message);
    if (answer.status === 409) throw new ConflictError(message);
    if (answer.status >= 400 && answer.status < 500) throw new ValidationError(message);
    failures.push(`${base}: HTTP ${String(answer.status)} ${errorMessage(answer.body)}`);
  }
  throw new UnavailableError(`no API URL accepted the enrolment: ${failures.join('; ')}`);
}
