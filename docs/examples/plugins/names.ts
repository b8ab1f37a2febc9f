// An example plugin: functions a sync plan's expressions can call, e.g. in an inbound mapper
//   - vault: login
//     expression: 'asciiFold(source.LastName).lowerAscii() + "." + initials(source.FirstName)'
// Handlers are synchronous and pure: no I/O, no clock, no randomness.
import type { JoineryPlugin } from '../../../src/plan/plugins.ts';

export const plugin = {
  name: 'names',
  functions: [
    {
      signature: 'asciiFold(string): string',
      description: 'Removes accents: "Zoë Ñúñez" → "Zoe Nunez".',
      handler: (text: string) => text.normalize('NFD').replace(/\p{M}/gu, ''),
    },
    {
      signature: 'initials(string): string',
      description: 'The initials of each part of a name: "Jean-Luc Marie" → "jlm".',
      handler: (name: string) =>
        name
          .split(/[\s-]+/)
          .filter((part) => part.length > 0)
          .map((part) => part.charAt(0).toLowerCase())
          .join(''),
    },
  ],
} satisfies JoineryPlugin;
