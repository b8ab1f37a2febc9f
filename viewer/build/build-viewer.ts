// Builds the live viewer's bundle (viewer/dist/viewer.js) with esbuild: Preact and htm bundled in, no CDN,
// minified. The bundle is committed, so `npm start` serves it without a build step and without dev
// dependencies; test/unit/viewer-bundle.test.ts fails when it is not what this build makes from the sources.
import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const viewerDir = join(dirname(fileURLToPath(import.meta.url)), '..');
export const viewerBundlePath = join(viewerDir, 'dist', 'viewer.js');

/** The bundle as text. */
export async function buildViewerBundle(): Promise<string> {
  const result = await build({
    entryPoints: [join(viewerDir, 'src', 'main.ts')],
    bundle: true,
    format: 'esm',
    target: 'es2022',
    minify: true,
    legalComments: 'none',
    write: false,
    logLevel: 'silent',
  });
  const output = result.outputFiles[0];
  if (output === undefined) throw new Error('esbuild produced no output for the viewer');
  return output.text;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const text = await buildViewerBundle();
  mkdirSync(dirname(viewerBundlePath), { recursive: true });
  writeFileSync(viewerBundlePath, text);
  console.log(`viewer bundle: ${viewerBundlePath} (${String(Buffer.byteLength(text))} bytes)`);
}
