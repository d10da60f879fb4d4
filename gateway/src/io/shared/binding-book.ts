/**
 * @module io/shared/binding-book
 * Which admissions book a gateway uses (app/ward-steps): the PostgreSQL one its group
 * shares when the configuration names `shared.postgres` (io/shared/pg-bindings), else the
 * bindings of its data directory's SQLite store (io/store `Bindings`, the embedded default).
 * Both seal patient ids for the data directory's envelope recipients and open them with its
 * private keys.
 */

import type { RecipientSecret } from '../../core/envelope.js';
import { type BindingBook, Bindings, type GatewayStore, watchRecipients } from '../store/index.js';
import { PgBindings, type PgBindingsOptions } from './pg-bindings.js';

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
