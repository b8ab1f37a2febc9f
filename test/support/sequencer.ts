// The order test files are handed to the two workers in. vitest's own order is the longest first when it
// knows the files' durations from an earlier run, else the largest first — and CI starts from a clean
// clone, where it knows none: a small file that runs for minutes (engine-crash: 22 engine processes
// started and killed) came last, and the other worker sat idle for as long. So:
// - the files known to take a minute or more on the 2-core machines go first, the longest first;
// - the Samba AD files, which take turns on the DC (test/support/samba-ad-turn.ts), are spread out among
//   the integration files: two of them handed out together would leave one worker waiting on the other;
// - the unit tests come first, on both workers: several assert that something takes bounded time (250 ms,
//   a 5 s timeout), which they did alone at the end, after the integration files; beside an integration
//   file (Kafka, PostgreSQL, child processes) one of them failed its bound. Beside another unit file
//   each still has a core of its own.
import { BaseSequencer, type TestSpecification } from 'vitest/node';

export const sambaAdProject = 'active-directory';

/** Files that take a minute or more (`npm test` on the 2-core CI machines), the longest first. */
const longFiles = [
  'test/integration/engine-crash.test.ts',
  'test/integration/csv-scale.test.ts',
  'test/integration/cli.test.ts',
  'test/integration/first-run.test.ts',
  'test/integration/connector-test-command.test.ts',
  'test/integration/readiness.test.ts',
  'test/integration/live-viewer.test.ts',
  'test/integration/agent-channel.test.ts',
  'test/integration/engine-broker-restart.test.ts',
  'test/integration/api-tls.test.ts',
  'test/integration/agent-restart-config.test.ts',
];

export class LongFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (spec: TestSpecification) => {
      const index = longFiles.findIndex((file) => spec.moduleId.endsWith(`/${file}`));
      return index === -1 ? longFiles.length : index;
    };
    const of = (project: string) => sorted.filter((spec) => spec.project.name === project);
    // Stable: files not in the list keep vitest's order.
    const integration = of('integration').sort((a, b) => rank(a) - rank(b));
    const sambaAd = of(sambaAdProject);
    const others = sorted.filter(
      (spec) => spec.project.name !== 'integration' && spec.project.name !== sambaAdProject,
    );
    // One Samba AD file after every `gap` integration files, the first after half a gap.
    const gap = integration.length / Math.max(sambaAd.length, 1);
    const spread: TestSpecification[] = [];
    let next = 0;
    integration.forEach((spec, index) => {
      while (next < sambaAd.length && index >= Math.floor(gap / 2 + next * gap)) {
        const file = sambaAd[next++];
        if (file !== undefined) spread.push(file);
      }
      spread.push(spec);
    });
    spread.push(...sambaAd.slice(next));
    return [...others, ...spread];
  }
}
