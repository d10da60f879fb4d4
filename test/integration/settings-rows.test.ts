/**
 * @module test/integration/settings-rows
 * The abstract per-patient settings suite (settings-rows-abstract.ts) against the data dir's
 * SQLite store (io/clinical `AlarmStore`, a lone gateway) and a gateway group's PostgreSQL
 * (io/shared `PgPatientSettings`, a real server: test/helpers/pg-suite).
 */
import { join } from 'node:path';
import { AlarmStore } from '../../gateway/src/io/clinical/index.js';
import { PgPatientSettings } from '../../gateway/src/io/shared/index.js';
import { openStore } from '../../gateway/src/io/store/store.js';
import { closedAfterEach } from '../helpers/contract.js';
import { usePostgres } from '../helpers/pg-suite.js';
import { makeTempDir } from '../helpers/tmp.js';
import { describeSettingsRows } from './settings-rows-abstract.js';

/** Rows of a table as text: every column's value, tab-separated, a row per line. */
const asText = (rows: readonly Record<string, unknown>[]): string =>
  rows.map((r) => Object.values(r).map(String).join('\t')).join('\n');

describeSettingsRows('AlarmStore (SQLite)', async () => {
  const tmp = makeTempDir('vt-settings-rows-');
  const store = openStore(join(tmp.dir, 'gateway', 'gateway.db'));
  return {
    rows: new AlarmStore(store),
    twin: async () => new AlarmStore(store),
    storedText: async () =>
      asText(store.db.prepare('SELECT * FROM dashboard_patient_settings').all() as Record<string, unknown>[]),
    close: async () => {
      store.close();
      tmp.cleanup();
    },
  };
});

const { server, sql } = usePostgres();
const closedAfter = closedAfterEach<PgPatientSettings>();

describeSettingsRows('PgPatientSettings (PostgreSQL)', async () => {
  const url = await server().createDatabase();
  const open = async (gatewayId: string) =>
    closedAfter(await PgPatientSettings.open({ url, password: server().password, gatewayId }));
  const rows = await open('gw-a');
  return {
    rows,
    // Another gateway of the group, once this one's writes are in the database.
    twin: async () => {
      await rows.flush();
      return open('gw-b');
    },
    storedText: async () => {
      await rows.flush();
      return asText((await sql(url, 'SELECT * FROM ward_patient_settings')).rows);
    },
    close: async () => {},
  };
});
