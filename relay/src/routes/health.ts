// GET /health: liveness plus a database round trip, for container healthchecks.
import { Router } from 'express';
import type { AppDeps } from '../deps.js';

export function healthRoutes(deps: AppDeps): Router {
  const router = Router();
  router.get('/health', async (_req, res) => {
    await deps.pool.query('SELECT 1');
    // Names `npm start`'s run (scripts/start.mjs waits for it): a health answer without it is
    // another program's, on a port taken after the run found it free.
    if (deps.config.runId) res.set('Secure-Drop-Run', deps.config.runId);
    res.json({ status: 'ok' });
  });
  return router;
}
