/**
 * @module io/http/live-socket
 * The ward's live socket (ARCHITECTURE.md "live bus ──▶ nurse dashboard (WebSocket)"):
 * `GET /ws`, authenticated by the session cookie before the upgrade (a refused socket gets
 * a plain 401/403 and never opens). Each socket first gets a `SnapshotMessage`, then one
 * `ReadingMessage` per hub reading and every clinical message (core/live-contract). The
 * socket closes with `WS_CLOSE_SESSION_ENDED` when its session ends (io/http/sessions),
 * `WS_CLOSE_TRY_AGAIN` when it falls too far behind, and is terminated when it stops
 * answering pings; the page then reconnects.
 *
 * Heartbeat (issue 15): a socket that was sent nothing for `HEARTBEAT_MS` gets a
 * `HeartbeatMessage`, so every socket hears from the gateway at least every
 * `HEARTBEAT_MS` + `HEARTBEAT_TICK_MS` and the page can show "connection lost" after
 * `CONNECTION_LOST_MS` of silence (a gateway gone, or a half-open link no TCP error reveals).
 * A socket busy with readings needs none, so heartbeats never sit between a burst's messages.
 *
 * Responses are whitelisted DTOs (STYLE.md §3): only the fields below leave the gateway.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { WebSocket } from 'ws';
import type { LiveHub, LiveReading, PatientTile } from '../../core/live.js';
import type { SessionRole } from '../../core/live-contract.js';
import {
  type ObservationKey as ContractObservationKey,
  HEARTBEAT_MS,
  type LiveMessage,
  type ReadingDto,
  type TileDto,
  type WardDto,
  WS_CLOSE_SESSION_ENDED,
  WS_CLOSE_TRY_AGAIN,
} from '../../core/live-contract.js';
import { OBSERVATIONS, type ObservationKey } from '../../protocol/frame.js';
import type { Assert, DroppedClient, HttpAuditEvent, LiveExtras, Same } from './route-contract.js';
import { type SessionGuard, type SessionStore, sessionIdOf } from './sessions.js';

/** Compile-time check: the contract's observation keys are protocol/frame's. */
export type ObservationKeysMatchContract = Assert<Same<ObservationKey, ContractObservationKey>>;

/** A socket with more than this queued is too slow to follow the ward; it is closed and reconnects. */
const WS_MAX_BUFFERED = 1024 * 1024;
const WS_PING_INTERVAL_MS = 30_000;
/** How often sockets are checked for a due heartbeat. */
export const HEARTBEAT_TICK_MS = HEARTBEAT_MS / 4;

const OBSERVATION_KEYS = Object.keys(OBSERVATIONS) as ObservationKey[];

export function readingDto(r: LiveReading): ReadingDto {
  const obs: Partial<Record<ObservationKey, number>> = {};
  for (const k of OBSERVATION_KEYS) {
    const v = r.obs[k];
    if (typeof v === 'number' && Number.isFinite(v)) obs[k] = v;
  }
  const out: ReadingDto = { dev: r.dev, seq: r.seq, ts: r.ts, obs, receivedAt: r.receivedAt };
  if (typeof r.bat === 'number') out.bat = r.bat;
  return out;
}

export function tileDto(t: PatientTile): TileDto {
  return { dev: t.dev, label: t.label, last: t.last ? readingDto(t.last) : null };
}

export interface LiveSocketDeps {
  hub: LiveHub;
  sessions: SessionStore;
  guard: SessionGuard;
  ward: WardDto;
  liveExtras: LiveExtras | undefined;
  audit: (event: HttpAuditEvent) => void;
  /** Told of each opening of the ward's live view before the socket opens (the access log); a throw refuses it. */
  onWardView?: (s: { username: string; role: SessionRole }) => Promise<void>;
  /** Told of each socket dropped: no answer to a ping, or too far behind. Must not throw. */
  onDropped?: (d: DroppedClient) => void;
  /** Ping interval. Default `WS_PING_INTERVAL_MS`. */
  pingMs?: number;
}

/** Registers `GET /ws` and starts the broadcast and heartbeat; `stop()` ends both. */
export function registerLiveSocket(app: FastifyInstance, deps: LiveSocketDeps): { stop(): void } {
  const { hub, sessions, guard, ward, liveExtras, audit } = deps;
  /**
   * Per socket: answered the last ping; when it was last sent a message; the last ping's
   * payload. Only a pong that echoes it counts (RFC 6455 §5.5.3; browsers do): an unsolicited
   * pong, which a client can send without reading a byte, keeps no socket alive.
   */
  const liveSockets = new Map<WebSocket, { alive: boolean; lastSent: number; ping: Buffer | null }>();
  const dropped = (socket: WebSocket, reason: DroppedClient['reason']) =>
    deps.onDropped?.({ reason, route: '/ws', method: 'GET', unsent: socket.bufferedAmount });
  const send = (socket: WebSocket, msg: LiveMessage): void => socket.send(JSON.stringify(msg));

  app.get(
    '/ws',
    {
      websocket: true,
      // Runs before the upgrade: a refused socket gets a plain 401/403 and never opens.
      preValidation: async (request, reply) => {
        const s = guard.requireLive(request, reply);
        await deps.onWardView?.(s);
      },
    },
    (socket, request) => {
      const s = sessions.get(sessionIdOf(request), false);
      if (!s) {
        socket.close(WS_CLOSE_SESSION_ENDED, 'session ended');
        return;
      }
      s.sockets.add(socket);
      liveSockets.set(socket, { alive: true, lastSent: Date.now(), ping: null });
      socket.on('pong', (data: Buffer) => {
        const st = liveSockets.get(socket);
        if (st?.ping && data.equals(st.ping)) st.alive = true;
      });
      socket.on('close', () => {
        s.sockets.delete(socket);
        liveSockets.delete(socket);
      });
      // Clients have nothing to say; incoming messages are ignored (maxPayload bounds them).
      audit({ type: 'live_view', username: s.username, at: Date.now() });
      send(socket, {
        ...liveExtras?.snapshot(),
        type: 'snapshot',
        ward,
        now: Date.now(),
        patients: hub.snapshot().map(tileDto),
      });
    },
  );

  function broadcast(msg: string): void {
    const now = Date.now();
    for (const [socket, st] of liveSockets) {
      if (socket.readyState !== socket.OPEN) continue;
      if (socket.bufferedAmount > WS_MAX_BUFFERED) {
        dropped(socket, 'too_slow');
        socket.close(WS_CLOSE_TRY_AGAIN, 'too slow');
        continue;
      }
      socket.send(msg);
      st.lastSent = now;
    }
  }
  // One hub subscription for all sockets: each reading is serialised once.
  const unsubscribe = hub.subscribe((reading) => {
    if (liveSockets.size === 0) return;
    broadcast(JSON.stringify({ type: 'reading', ...readingDto(reading) } satisfies LiveMessage));
  });
  const unsubscribeExtras = liveExtras?.subscribe((m) => {
    if (liveSockets.size > 0) broadcast(JSON.stringify(m satisfies LiveMessage));
  });

  // Dead peers (no pong for a whole interval) are dropped; the page then reconnects.
  const heartbeat = setInterval(() => {
    for (const [socket, st] of liveSockets) {
      if (!st.alive) {
        dropped(socket, 'no_pong');
        socket.terminate();
        liveSockets.delete(socket); // no second report before its 'close'
        continue;
      }
      st.alive = false;
      st.ping = randomBytes(8);
      socket.ping(st.ping);
    }
  }, deps.pingMs ?? WS_PING_INTERVAL_MS);
  heartbeat.unref();

  // The application heartbeat: every socket hears something at least every HEARTBEAT_MS.
  const heartbeats = setInterval(() => {
    const now = Date.now();
    for (const [socket, st] of liveSockets) {
      if (socket.readyState !== socket.OPEN || now - st.lastSent < HEARTBEAT_MS) continue;
      send(socket, { type: 'heartbeat', now });
      st.lastSent = now;
    }
  }, HEARTBEAT_TICK_MS);
  heartbeats.unref();

  return {
    stop() {
      unsubscribe();
      unsubscribeExtras?.();
      clearInterval(heartbeat);
      clearInterval(heartbeats);
    },
  };
}
