/**
 * @module io/http/routes/log-routes
 * HTTP endpoints of the transparency log and its anchoring (PROTOCOL.md §3-4; RFC 9162
 * §2.1.3-2.1.4; C2SP signed-note and tlog-checkpoint), registered on the gateway's server
 * through `HttpServerOptions.routes`:
 *
 * - `GET /checkpoint[?size=N]` → the latest (or size N's) signed checkpoint note, text/plain.
 * - `GET /proof/inclusion?leaf=N&size=M` → `{leafIndex, treeSize, leafHash, rootHash, proof}`.
 * - `GET /proof/consistency?from=A&to=B` → `{from, to, fromRoot, toRoot, proof}`.
 * - `GET /anchoring` → `{pending, oldestPendingAgeMs, lastAnchoredSize, lastError, logSize}`.
 * - `GET /receipt?dev=D&seq=S` → `{dev, seq, leafIndex, anchored, treeSize, txHash, blockNumber}`.
 *
 * Hashes are 0x-prefixed lowercase hex (as in PROTOCOL.md §5 bundles).
 *
 * Access: every route needs a session with role admin or auditor (io/http/route-roles;
 * nurses see vitals, not proofs: ARCHITECTURE.md "Roles"). The proofs and
 * checkpoints carry hashes only (no PHI), but tree sizes reveal the ward's activity and a
 * receipt confirms that a device sent a given reading at a given point of the log: that is
 * metadata about a patient, so none of it is public. Auditors need no live-PHI grant for it.
 *
 * Trust: query strings are attacker-controlled; they are parsed strictly (decimal, no
 * leading zeros, no signs) and a failure is 400 `bad_request`; a size beyond the log or an
 * unknown reading is 404 `not_found`. Responses are built field by field.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { toHex } from '../../../core/log-names.js';
import { DEVICE_ID_PATTERN } from '../../../protocol/frame.js';
import type { CheckpointNotes } from '../../anchoring/index.js';
import type { Role } from '../../identity/index.js';
import type { GatewayStore } from '../../store/index.js';
import { HttpError } from '../errors.js';
import type { HttpAuth, HttpRoutes } from '../route-contract.js';
import { PROOF_ROLES } from '../route-roles.js';

/** Roles that may read checkpoints, proofs, anchoring status and receipts (io/http/route-roles): no nurses. */
export const LOG_ROLES: readonly Role[] = PROOF_ROLES;

export interface LogRoutesOptions {
  store: GatewayStore;
  notes: CheckpointNotes;
  /** The anchoring status, or null when the gateway has no ledger. */
  anchoring: () => {
    pending: number;
    oldestPendingAgeMs: number | null;
    lastAnchoredSize: number;
    lastError: string | null;
  } | null;
}

const UINT = /^(0|[1-9][0-9]{0,15})$/;

/** A non-negative safe integer from the query, or 400. */
function uintParam(request: FastifyRequest, name: string): number {
  const v = (request.query as Record<string, unknown> | undefined)?.[name];
  if (typeof v !== 'string' || !UINT.test(v)) throw new HttpError('bad_request');
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new HttpError('bad_request');
  return n;
}

function optionalUintParam(request: FastifyRequest, name: string): number | undefined {
  const q = request.query as Record<string, unknown> | undefined;
  return q?.[name] === undefined ? undefined : uintParam(request, name);
}

/**
 * The route module of the log (pass it to `startHttpServer({ routes })`).
 * @example
 * await startHttpServer({ …, routes: [logRoutes({ store, notes, anchoring: () => anchorer.status() })] });
 */
export function logRoutes(o: LogRoutesOptions): HttpRoutes {
  return (app: FastifyInstance, auth: HttpAuth) => {
    const guard = (request: FastifyRequest, reply: Parameters<HttpAuth['requireRole']>[1]) =>
      auth.requireRole(request, reply, LOG_ROLES);

    app.get('/checkpoint', async (request, reply) => {
      guard(request, reply);
      const size = optionalUintParam(request, 'size');
      const note = size === undefined ? o.notes.latest()?.note : o.notes.note(size);
      if (note === undefined) throw new HttpError('not_found');
      return reply.header('cache-control', 'no-store').type('text/plain; charset=utf-8').send(note);
    });

    app.get('/proof/inclusion', async (request, reply) => {
      guard(request, reply);
      const leaf = uintParam(request, 'leaf');
      const size = uintParam(request, 'size');
      if (size < 1 || leaf >= size) throw new HttpError('bad_request'); // RFC 9162 §2.1.3.1: index < size
      if (size > o.store.size) throw new HttpError('not_found');
      reply.header('cache-control', 'no-store');
      return {
        leafIndex: leaf,
        treeSize: size,
        leafHash: toHex(o.store.getNode(0, leaf)),
        rootHash: toHex(o.store.root(size)),
        proof: o.store.inclusionProof(leaf, size).map(toHex),
      };
    });

    app.get('/proof/consistency', async (request, reply) => {
      guard(request, reply);
      const from = uintParam(request, 'from');
      const to = uintParam(request, 'to');
      // RFC 9162 §2.1.4: 0 < first <= second
      if (from < 1 || from > to) throw new HttpError('bad_request');
      if (to > o.store.size) throw new HttpError('not_found');
      reply.header('cache-control', 'no-store');
      return {
        from,
        to,
        fromRoot: toHex(o.store.root(from)),
        toRoot: toHex(o.store.root(to)),
        proof: o.store.consistencyProof(from, to).map(toHex),
      };
    });

    app.get('/anchoring', async (request, reply) => {
      guard(request, reply);
      const s = o.anchoring();
      const pending = o.store.pendingCheckpoints();
      reply.header('cache-control', 'no-store');
      return {
        ledger: s !== null,
        logSize: o.store.size,
        pending: s?.pending ?? pending.length,
        oldestPendingAgeMs: s ? s.oldestPendingAgeMs : pending[0] ? Date.now() - pending[0].createdAt : null,
        lastAnchoredSize: s?.lastAnchoredSize ?? o.store.latestAnchored()?.treeSize ?? 0,
        lastError: s?.lastError ?? null,
      };
    });

    app.get('/receipt', async (request, reply) => {
      guard(request, reply);
      const dev = (request.query as Record<string, unknown> | undefined)?.dev;
      if (typeof dev !== 'string' || !DEVICE_ID_PATTERN.test(dev)) throw new HttpError('bad_request');
      const seq = uintParam(request, 'seq');
      const frame = o.store.getFrame(dev, seq);
      if (!frame) throw new HttpError('not_found');
      const r = o.notes.receipt(frame.leafIndex);
      reply.header('cache-control', 'no-store');
      return {
        dev: frame.dev,
        seq: frame.seq,
        leafIndex: frame.leafIndex,
        anchored: r !== undefined,
        treeSize: r?.treeSize ?? null,
        txHash: r?.txHash ?? null,
        blockNumber: r?.blockNumber ?? null,
      };
    });
  };
}
