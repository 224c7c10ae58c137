// Boundary schemas shared by POST /keys and POST /provisioning (spec/openapi.yaml DeviceDescription).
import { z } from 'zod';
import { DEVICE_KINDS, MAX_DEVICE_ID, MAX_DEVICE_NAME_CHARS } from './limits.js';

// Printable: no control characters (C0, DEL, C1), no line or paragraph separators, no bidi
// overrides or isolates that could make a name display as another (Trojan Source,
// CVE-2021-42574), no BOM: the `pattern` of spec/openapi.yaml DeviceName, so the schema says
// what is accepted. And no lone surrogate (not storable as UTF-8; JSON Schema patterns, compiled
// by tools in languages whose strings cannot hold one, cannot say it).
export const DEVICE_NAME_PATTERN =
  '^[^\\u0000-\\u001f\\u007f-\\u009f\\u2028\\u2029\\u202a-\\u202e\\u2066-\\u2069\\ufeff]+$';
const PRINTABLE = new RegExp(DEVICE_NAME_PATTERN, 'u');

export const deviceName = z
  .string()
  .min(1, 'must not be empty')
  .refine((s) => [...s].length <= MAX_DEVICE_NAME_CHARS, `at most ${MAX_DEVICE_NAME_CHARS} characters`)
  .refine((s) => PRINTABLE.test(s), 'must be printable text')
  .refine((s) => !/\p{Cs}/u.test(s), 'must be well-formed Unicode');

export const deviceKind = z.enum(DEVICE_KINDS);

export const DeviceDescription = z.strictObject({ name: deviceName, kind: deviceKind });

export const deviceId = z.number().int().min(1).max(MAX_DEVICE_ID);

/** A device id in a path segment: canonical decimal 1 … 2^31 − 1. */
export const deviceIdParam = z
  .string()
  .regex(/^[1-9]\d{0,9}$/, 'must be a device id')
  .transform(Number)
  .pipe(deviceId);
