// The published JSON Schemas as files (docs/schemas/ in the repository, or anywhere with
// `joinery schemas --out DIR`): one <type>.json per message type.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { messageTypes, publishedSchema, type MessageType } from '../kernel/contracts/messages.ts';

export function schemaFileContent(type: MessageType): string {
  return `${JSON.stringify(publishedSchema(type), null, 2)}\n`;
}

/** Writes every schema into dir; returns the paths written. */
export function writeSchemas(dir: string): string[] {
  mkdirSync(dir, { recursive: true });
  return messageTypes.map((type) => {
    const file = join(dir, `${type}.json`);
    writeFileSync(file, schemaFileContent(type));
    return file;
  });
}
