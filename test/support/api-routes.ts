// The routes of a built app, read from Fastify's route tree: what route-wide tests iterate over.
import type { App } from '../../src/api/app.ts';

/** Every route of the app as method and path, read from Fastify's route tree (HEAD left out). */
export function routesOf(app: App): { method: string; path: string }[] {
  const prefixes: string[] = [];
  const routes: { method: string; path: string }[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const match = /^((?:│ {3}| {4})*)(?:├── |└── )(.*?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (match === null) continue;
    const depth = (match[1] ?? '').length / 4;
    // Parameters at the same place under different names print as ":id|:applicationId".
    const segment = (match[2] ?? '').replace(/(:[A-Za-z]+)(\|:[A-Za-z]+)+/g, '$1');
    const path = (prefixes[depth - 1] ?? '') + segment;
    prefixes[depth] = path;
    for (const method of (match[3] ?? '').split(', '))
      if (method !== '' && method !== 'HEAD') routes.push({ method, path });
  }
  return routes;
}
