// Every HTTP route module of the relay, mounted at the root by src/app.ts in this order.
// A module is `(deps) => Router` defining its own full paths, its own per-route body parser
// (src/http/body.ts) and `requireAuth(deps)` where needed. To add one: write
// src/<concern>/routes.ts beside the code it serves and add ONE line to this list.
import type { Router } from 'express';
import { authRoutes } from '../auth/routes.js';
import { blockRoutes } from '../contacts/blocks.js';
import { contactRoutes } from '../contacts/routes.js';
import type { AppDeps } from '../deps.js';
import { deviceRoutes } from '../devices/routes.js';
import { keyRoutes } from '../keys/routes.js';
import { messageRoutes } from '../messages/routes.js';
import { photoRoutes } from '../photos/routes.js';
import { healthRoutes } from './health.js';

export type RouteModule = (deps: AppDeps) => Router;

export const routeModules: RouteModule[] = [
  healthRoutes,
  authRoutes,
  // the messaging half: keys, contacts, messages, photos
  keyRoutes,
  deviceRoutes,
  contactRoutes,
  blockRoutes,
  messageRoutes,
  photoRoutes,
];
