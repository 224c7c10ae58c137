/**
 * Writes spec/vectors/pqxdh.json and spec/vectors/ratchet-conversation.json.
 * Run from the repo root: npx tsx crypto-core/scripts/gen-protocol-vectors.ts
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildConversationVector, buildPqxdhVector } from './protocol-vectors.js';

const dir = fileURLToPath(new URL('../../spec/vectors/', import.meta.url));
const write = (name: string, v: unknown) => writeFileSync(`${dir}${name}`, `${JSON.stringify(v, null, 2)}\n`);
write('pqxdh.json', await buildPqxdhVector());
write('ratchet-conversation.json', await buildConversationVector());
console.log(`wrote ${dir}pqxdh.json and ${dir}ratchet-conversation.json`);
