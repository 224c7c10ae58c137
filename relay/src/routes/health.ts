// GET /health: liveness plus a database round trip, for container healthchecks.
import { Router } from 'express';
import type { AppDeps } from '../deps.js';

export function healthRoutes(deps: AppDeps): Router {
  const router = Router();
  router.get('/health', async (_req, res) => {
    await deps.pool.query('SELECT 1');
    res.json({ status: 'ok' });
  });
  return router;
}
