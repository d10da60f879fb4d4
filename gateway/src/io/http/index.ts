/**
 * @module io/http
 * The dashboard's HTTP/WebSocket server and the route modules other areas register on it.
 * The one way into this folder from the rest of the gateway (test/unit/house-rules.test.ts).
 */

export type { HttpRoutes } from './route-contract.js';
export { WARD_ROLES } from './route-roles.js';
export { alarmRoutes } from './routes/alarm-routes.js';
export { auditorRoutes } from './routes/auditor-routes.js';
export { careBreakGlassRoutes, DEFAULT_BREAK_GLASS_MINUTES } from './routes/care/care-break-glass-routes.js';
export { type CareConsentOptions, careConsentRoutes } from './routes/care/care-consent-routes.js';
export {
  type CareExportOptions,
  careExportRoutes,
  defaultDownloadSlots,
} from './routes/care/care-export-routes.js';
export { type CarePageRoutesOptions, carePageRoutes } from './routes/care/care-page-routes.js';
export {
  type AccessBasis,
  type CareAccess,
  type CareConsentDto,
  type CareRoutesOptions,
  careRoutes,
  consentDto,
} from './routes/care/care-routes.js';
export { createDataRoutes, type WardAccess } from './routes/data-routes.js';
export { logRoutes } from './routes/log-routes.js';
export { opsRoutes } from './routes/metrics-routes.js';
export { webhookRoutes } from './routes/webhook-routes.js';
export { type HttpServer, startHttpServer } from './server.js';
