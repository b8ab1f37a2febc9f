// The live viewer (docs/live.md): three static files built by the project (viewer/), served from memory
// with their content types and a strict Content-Security-Policy — scripts, styles and connections to this
// origin only, nothing inline, no frames. The files hold no data: every call they make is authenticated.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyPluginAsync } from 'fastify';
import { fileURLToPath } from 'node:url';

const viewerDir = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', 'viewer');

export const viewerContentSecurityPolicy = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const files = [
  { url: '/viewer/', path: 'index.html', type: 'text/html; charset=utf-8', cache: 'no-cache' },
  {
    url: '/viewer/viewer.js',
    path: join('dist', 'viewer.js'),
    type: 'text/javascript; charset=utf-8',
    cache: 'no-cache',
  },
  { url: '/viewer/viewer.css', path: 'viewer.css', type: 'text/css; charset=utf-8', cache: 'no-cache' },
] as const;

export const viewerRoutes: FastifyPluginAsync = async (app) => {
  for (const file of files) {
    const body = readFileSync(join(viewerDir, file.path));
    app.get(file.url, async (_request, reply) =>
      reply
        .header('content-type', file.type)
        .header('cache-control', file.cache)
        .header('content-security-policy', viewerContentSecurityPolicy)
        .header('x-content-type-options', 'nosniff')
        .header('referrer-policy', 'no-referrer')
        .send(body),
    );
  }
  app.get('/viewer', async (_request, reply) => reply.redirect('/viewer/', 308));
};
