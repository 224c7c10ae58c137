/**
 * Writes spec/vectors/photo.json and spec/vectors/safety-number.json (spec/protocol.md
 * §14.3). Run from the repo root: `npx tsx crypto-core/scripts/gen-symmetric-vectors.ts`,
 * or `npm run vectors:symmetric -w crypto-core`. Output is deterministic.
 */
import { writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { photoVectors, safetyNumberVectors } from './symmetric-vectors.js';

const out = resolve(dirname(fileURLToPath(import.meta.url)), '../../spec/vectors');
writeFileSync(resolve(out, 'photo.json'), `${JSON.stringify(await photoVectors(), null, 2)}\n`);
writeFileSync(resolve(out, 'safety-number.json'), `${JSON.stringify(safetyNumberVectors(), null, 2)}\n`);
console.log(`wrote ${out}/photo.json and ${out}/safety-number.json`);
