/**
 * @module io/shared/user-directory
 * Which account store a gateway (app/ward-steps) or the CLI (`vitaltrail users`) uses: the
 * PostgreSQL directory the gateway group shares when the configuration names
 * `shared.postgres` (io/shared/pg-users), else the users file of the data directory
 * (io/identity `UserFile`, the embedded default).
 */
import { type UserDirectory, UserFile } from '../identity/index.js';
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
