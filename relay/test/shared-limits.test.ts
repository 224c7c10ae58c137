// Limits shared with crypto-core (spec/protocol.md §12). The prekey batch counts are one
// definition — the relay imports crypto-core's (keys/limits.ts) — and spec/openapi.yaml
// states them again for clients, so this holds the spec to them. The message and photo caps
// are the operator's to configure (relay/.env.example), so they cannot be crypto-core's
// constants; their defaults must hold the largest message and photo blob crypto-core makes.

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { MAX_PHOTO_BLOB_BYTES } from '@secure-drop/crypto-core/photo-metadata';
import { MAX_ONE_TIME_PQ_PREKEY_BATCH, MAX_ONE_TIME_PREKEY_BATCH } from '@secure-drop/crypto-core/prekeys';
import { MAX_WIRE_MESSAGE_BYTES } from '@secure-drop/crypto-core/session-limits';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { loadConfig } from '../src/config.js';
import { MAX_PQ_PREKEYS_PER_UPLOAD, MAX_PREKEYS_PER_UPLOAD } from '../src/keys/limits.js';
import { SPEC_PATH } from './helpers/openapi.js';

type Schema = { properties: Record<string, { maxItems?: number }> };

describe('limits shared with crypto-core', () => {
  it('one key upload takes one crypto-core batch of each kind, as spec/openapi.yaml says', () => {
    expect(MAX_PREKEYS_PER_UPLOAD).toBe(MAX_ONE_TIME_PREKEY_BATCH);
    expect(MAX_PQ_PREKEYS_PER_UPLOAD).toBe(MAX_ONE_TIME_PQ_PREKEY_BATCH);
    const doc = parseYaml(readFileSync(SPEC_PATH, 'utf8')) as {
      components: { schemas: Record<string, Schema> };
    };
    const upload = doc.components.schemas.KeyUpload;
    expect(upload?.properties.one_time_prekeys?.maxItems).toBe(MAX_ONE_TIME_PREKEY_BATCH);
    expect(upload?.properties.one_time_pq_prekeys?.maxItems).toBe(MAX_ONE_TIME_PQ_PREKEY_BATCH);
  });

  it('the default caps hold the largest wire message and photo blob crypto-core produces', () => {
    const key = () => randomBytes(32).toString('base64');
    const c = loadConfig({ NODE_ENV: 'production', JWT_SECRET: key(), TOTP_ENCRYPTION_KEY: key() });
    expect(c.limits.messageBytes).toBeGreaterThanOrEqual(MAX_WIRE_MESSAGE_BYTES);
    expect(c.limits.photoBytes).toBeGreaterThanOrEqual(MAX_PHOTO_BLOB_BYTES);
  });
});
