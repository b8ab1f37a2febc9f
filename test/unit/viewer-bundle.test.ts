// The live viewer's bundle is committed (npm start serves it without a build step or dev dependencies):
// it must be exactly what the build makes from the sources. After changing viewer/src: npm run viewer:build.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildViewerBundle, viewerBundlePath } from '../../viewer/build/build-viewer.ts';

describe('the live viewer bundle', () => {
  it('is current with its sources (else: npm run viewer:build)', async () => {
    expect(readFileSync(viewerBundlePath, 'utf8') === (await buildViewerBundle())).toBe(true);
  });
});
