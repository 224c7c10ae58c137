/**
 * Writes spec/vectors/pqxdh.json, ratchet-conversation.json and protocol-rejections.json.
 * Run from the repo root: npx tsx crypto-core/scripts/gen-protocol-vectors.ts
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildConversationVector, buildPqxdhVector, buildRejectionVector } from './protocol-vectors.js';

const dir = fileURLToPath(new URL('../../spec/vectors/', import.meta.url));
const write = (name: string, v: unknown) => writeFileSync(`${dir}${name}`, `${JSON.stringify(v, null, 2)}\n`);
write('pqxdh.json', await buildPqxdhVector());
write('ratchet-conversation.json', await buildConversationVector());
write('protocol-rejections.json', await buildRejectionVector());
console.log(`wrote pqxdh.json, ratchet-conversation.json and protocol-rejections.json in ${dir}`);
