/**
 * @module app/gateway-steps
 * The gateway's start-up, step by step, with the stop step of each (app/steps). The order
 * is the one a frame needs (ARCHITECTURE.md "one frame's journey"): the store and device
 * identity first, then the ingest pipeline and everything that subscribes to it (metrics,
 * the audit log, alarms, the live hub's consumers), the dashboard, and only then the
 * transports that let frames in. Stopping runs the list backwards: transports close
 * first, the frames in flight are answered (`drain`), then the last checkpoint is cut and
 * flushed, and the store closes last.
 *
 * Components talk through events, not through each other: the ingest pipeline emits
 * `rejected` and `outcome` (io/ingest/ingest), and the audit log, alarms, metrics and the
 * transport that answers the device each subscribe in their own step.
 */

import { accessLog, care } from './care-steps.js';
import {
  anchorer,
  anchoring,
  announce,
  chainCalls,
  chainWatch,
  deviceRefresh,
  drain,
  hub,
  identity,
  ingest,
  instanceLock,
  layout,
  metrics,
  store,
} from './core-steps.js';
import type { GatewayStep } from './gateway-parts.js';
import { follower, serial, transport } from './ingress-steps.js';
import { outbound } from './outbound-steps.js';
import { retention } from './retention-steps.js';
import { alarms, bindings, groupAudit, http, influx, users } from './ward-steps.js';

export { GatewayParts } from './gateway-parts.js';

/** The whole start list, in order; stop runs it backwards. */
export const GATEWAY_STEPS: readonly GatewayStep[] = [
  layout,
  instanceLock,
  store,
  chainCalls,
  identity,
  groupAudit,
  hub,
  ingest,
  metrics,
  anchorer,
  retention,
  accessLog,
  chainWatch,
  users,
  alarms,
  bindings,
  care,
  http,
  influx,
  outbound,
  drain,
  follower,
  transport,
  serial,
  anchoring,
  deviceRefresh,
  announce,
];
