/**
 * Writes spec/vectors/devices.json (spec/protocol.md §14.4). Run from the repo root:
 * `npx tsx crypto-core/scripts/gen-devices-vectors.ts`, or `npm run vectors:devices -w crypto-core`.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { devicesVectors } from './devices-vectors.js';

const file = fileURLToPath(new URL('../../spec/vectors/devices.json', import.meta.url));
writeFileSync(file, `${JSON.stringify(await devicesVectors(), null, 2)}\n`);
console.log(`wrote ${file}`);
