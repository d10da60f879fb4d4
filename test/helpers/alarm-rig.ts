/**
 * @module test/helpers/alarm-rig
 * The alarm service (io/clinical/alarm-service) on a real SQLite store and the real HTTP
 * server with its alarm routes (fastify inject), signed in as each user, for the alarm
 * integration tests (issue 15). The test owns the hub, the clock and the service's options.
 */
import { join } from 'node:path';
import type { LiveHub } from '../../gateway/src/core/live.js';
import {
  AlarmService,
  type AlarmServiceOptions,
  type LiveMessage,
} from '../../gateway/src/io/clinical/alarm-service.js';
import { alarmRoutes } from '../../gateway/src/io/http/routes/alarm-routes.js';
import { startHttpServer } from '../../gateway/src/io/http/server.js';
import { type Role, UserFile } from '../../gateway/src/io/identity/users.js';
import { type GatewayStore, openStore } from '../../gateway/src/io/store/store.js';
import { makeTempDir } from './tmp.js';

const ROOT = join(import.meta.dirname, '../..');

export interface AlarmRigOptions {
  /** The hub the service watches; the test publishes readings on it. */
  hub: LiveHub;
  /** Added to the hub before the server starts. */
  devices: readonly string[];
  /** Each added with its role and signed in; `req` calls as one of them by name. */
  users: readonly (readonly [username: string, role: Role, password: string])[];
  /** The service's options on the rig's store. */
  service: (store: GatewayStore) => AlarmServiceOptions;
}

/**
 * Starts the rig in a fresh temp dir (the store and `users.json`); `close()` stops the
 * service and the server, closes the store and removes the dir.
 */
export async function startAlarmRig(o: AlarmRigOptions) {
  const tmp = makeTempDir();
  const store = openStore(join(tmp.dir, 'store.db'));
  const alarms = new AlarmService(o.service(store));
  const messages: LiveMessage[] = [];
  alarms.subscribe((m) => messages.push(m));
  const users = new UserFile(join(tmp.dir, 'users.json'));
  for (const [u, role, p] of o.users) await users.add(u, role, p);
  for (const d of o.devices) o.hub.addDevice(d);
  const srv = await startHttpServer({
    hub: o.hub,
    users,
    staticDir: join(ROOT, 'dashboards/ward'),
    routes: [alarmRoutes({ alarms, hub: o.hub })],
    liveExtras: alarms,
  });
  const cookies: Record<string, string> = {};
  for (const [u, , p] of o.users) {
    const res = await srv.app.inject({
      method: 'POST',
      url: '/api/login',
      payload: { username: u, password: p },
    });
    cookies[u] = String(res.headers['set-cookie']).split(';')[0]!;
  }
  return {
    store,
    alarms,
    srv,
    /** Every message the service sent to the live socket, oldest first. */
    messages,
    /** The session cookie (`name=value`) of each user. */
    cookies,
    /** An API call as `user` (fastify inject). */
    req: (user: string, method: 'GET' | 'POST' | 'PUT', url: string, payload?: object) =>
      srv.app.inject({
        method,
        url,
        headers: { cookie: cookies[user]! },
        ...(payload !== undefined ? { payload } : {}),
      }),
    async close(): Promise<void> {
      alarms.stop();
      await srv.close();
      store.db.close();
      tmp.cleanup();
    },
  };
}

export type AlarmRig = Awaited<ReturnType<typeof startAlarmRig>>;
