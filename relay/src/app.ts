// buildApp: the Express app with no port, so tests import it directly; src/server.ts listens.
// Order: security headers → request id + request log → requests in progress per address → body deadline → routes → 404 → JSON error handler (last).
import { randomUUID } from 'node:crypto';
import express, { type Express } from 'express';
import helmet from 'helmet';
import { pinoHttp } from 'pino-http';
import type { AppDeps } from './deps.js';
import { bodyDeadline } from './http/deadline.js';
import { errorHandler, notFoundHandler } from './http/errors.js';
import { requestsPerIp } from './http/per-ip.js';
import { type RouteModule, routeModules } from './routes/index.js';

const SAFE_REQUEST_ID = /^[A-Za-z0-9._-]{8,64}$/;

/** `modules` defaults to every route of the relay (src/routes/index.ts); tests may pass their own. */
export function buildApp(deps: AppDeps, modules: RouteModule[] = routeModules): Express {
  const app = express();
  app.disable('x-powered-by');
  // An explicit list (STYLE.md: never `true`), or X-Forwarded-For could be forged to dodge the IP limit.
  app.set('trust proxy', deps.config.trustProxy.length ? deps.config.trustProxy : false);
  app.set('query parser', 'simple');
  // Every answer is per-user (tokens, mailboxes, keys) or an error: nothing may be stored by a
  // browser or an intermediary cache, and no ETag invites a revalidation that replays another
  // request's Authorization (seen with happy-dom's cache in the PWA tests).
  app.set('etag', false);
  app.use(helmet());
  app.use((_req, res, next) => {
    res.setHeader('Cache-Control', 'no-store');
    next();
  });

  app.use(
    pinoHttp({
      logger: deps.logger,
      genReqId: (req, res) => {
        const incoming = req.headers['x-request-id'];
        const id = typeof incoming === 'string' && SAFE_REQUEST_ID.test(incoming) ? incoming : randomUUID();
        res.setHeader('X-Request-Id', id);
        return id;
      },
      // Method, path (no query string), status, timing: nothing a client sent as a credential.
      serializers: {
        req: (req: { id: unknown; method: string; url: string }) => ({
          id: req.id,
          method: req.method,
          path: req.url.split('?')[0],
        }),
        res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
        err: (err: { type?: string; message?: string }) => ({ type: err.type, message: err.message }),
      },
      customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : 'info'),
      quietReqLogger: true,
    }),
  );

  // Before any body is read, so a refused request costs nothing more.
  app.use(requestsPerIp(deps.config.httpMaxRequestsPerIp));
  app.use(bodyDeadline(deps.config.http.requestMs));
  for (const mount of modules) app.use(mount(deps));

  app.use(notFoundHandler);
  app.use(errorHandler(deps.logger));
  return app;
}
