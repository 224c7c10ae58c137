// Per-route JSON body parsing with its own size limit (a relay of opaque blobs must not accept
// a 25 MiB JSON document on a login route). Use on each route: router.post('/x', jsonBody('2kb'), ...).
import express from 'express';

export function jsonBody(limit: string | number) {
  return express.json({ limit, strict: true, type: 'application/json' });
}
