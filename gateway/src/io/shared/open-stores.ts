/**
 * @module io/shared/open-stores
 * Which stores a gateway (app/ward-steps) or the CLI (`vitaltrail users`) uses for the dashboard
 * accounts and the admissions: the PostgreSQL ones its group shares when the configuration
 * names `shared.postgres` (io/shared/pg-users, io/shared/pg-bindings), else the data
 * directory's own (io/identity `UserFile`, the users file; io/store `Bindings`, its SQLite
 * store: the embedded default). Both admissions books seal patient ids for the data
 * directory's envelope recipients and open them with its private keys.
 */
import type { RecipientSecret } from '../../core/envelope.js';
import { type UserDirectory, UserFile } from '../identity/index.js';
import { type BindingBook, Bindings, type GatewayStore, watchRecipients } from '../store/index.js';
import { PgBindings, type PgBindingsOptions } from './pg-bindings.js';
import { PgUserDirectory, type PgUserDirectoryOptions } from './pg-users.js';

/** An open account store and how to close it. */
export interface OpenUserDirectory {
  users: UserDirectory;
  /** `postgres`: the group's shared directory; `file`: this data directory's users file. */
  kind: 'file' | 'postgres';
  close(): Promise<void>;
}

/**
 * Opens the account store: PostgreSQL when `postgres` is given, else the file `usersPath`.
 * @throws {SharedStateError} `shared_unavailable` when the shared database cannot be used
 * @example const { users, close } = await openUserDirectory({ usersPath: dataPaths(dir).users });
 */
export async function openUserDirectory(o: {
  usersPath: string;
  postgres?: PgUserDirectoryOptions | undefined;
}): Promise<OpenUserDirectory> {
  if (o.postgres === undefined)
    return { users: new UserFile(o.usersPath), kind: 'file', close: async () => {} };
  const users = await PgUserDirectory.open(o.postgres);
  return { users, kind: 'postgres', close: () => users.close() };
}

/** An open admissions book and how to close it. */
export interface OpenBindingBook {
  bindings: BindingBook;
  /** `postgres`: the group's shared book; `store`: this data directory's SQLite store. */
  kind: 'store' | 'postgres';
  close(): Promise<void>;
}

/**
 * Opens the admissions book: PostgreSQL when `postgres` is given, else `store`'s bindings.
 * @throws {SharedStateError} `shared_unavailable` when the shared database cannot be used
 * @example const { bindings, close } = await openBindingBook({ store, recipientsDir, secrets });
 */
export async function openBindingBook(o: {
  store: GatewayStore;
  /** DATA/gateway/recipients: the recipients patient ids are sealed for. */
  recipientsDir: string;
  secrets: readonly RecipientSecret[];
  postgres?: Omit<PgBindingsOptions, 'recipients' | 'secrets'> | undefined;
}): Promise<OpenBindingBook> {
  const recipients = watchRecipients(o.recipientsDir);
  if (o.postgres === undefined) {
    const bindings = new Bindings(o.store, { recipients, secrets: o.secrets });
    return { bindings, kind: 'store', close: async () => {} };
  }
  const bindings = await PgBindings.open({ ...o.postgres, recipients, secrets: o.secrets });
  return { bindings, kind: 'postgres', close: () => bindings.close() };
}
