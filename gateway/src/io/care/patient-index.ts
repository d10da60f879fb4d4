/**
 * @module io/care/patient-index
 * Which patient a pseudonym names (issue 18): the chain, a doctor's request and a patient's
 * account name a patient only by their pseudonym (core/pseudonym, keyed by the data dir's
 * pseudonym key); the admissions (io/store `BindingBook`) hold the patient ids, sealed. The
 * index opens every patient id the book ever admitted (`patients()`), computes its pseudonym
 * and keeps the map; an admission or discharge anywhere (`onChange`) drops it, and a miss
 * rebuilds it at most every `rebuildMs` (default 5 s), so a stream of made-up pseudonyms
 * cannot make the gateway open every sealed id again and again.
 */
import { pseudonymOf } from '../../core/pseudonym.js';
import type { BindingBook } from '../store/index.js';

export class PatientIndex {
  readonly #book: BindingBook;
  readonly #key: Uint8Array;
  readonly #rebuildMs: number;
  readonly #now: () => number;
  #map: Map<string, string> | null = null;
  #builtAt = Number.NEGATIVE_INFINITY;
  #building: Promise<Map<string, string>> | null = null;
  readonly #unsubscribe: () => void;

  /** @param key the data dir's pseudonym key (32 bytes) */
  constructor(book: BindingBook, key: Uint8Array, opts: { rebuildMs?: number; now?: () => number } = {}) {
    this.#book = book;
    this.#key = key;
    this.#rebuildMs = opts.rebuildMs ?? 5000;
    this.#now = opts.now ?? Date.now;
    this.#unsubscribe = book.onChange(() => {
      this.#map = null;
    });
  }

  /** The pseudonym of a patient id. */
  pseudonymOf(patientId: string): string {
    return pseudonymOf(this.#key, patientId);
  }

  /** The patient id a pseudonym names, or null when no patient admitted here has it. */
  async patientOf(pseudonym: string): Promise<string | null> {
    const p = pseudonym.toLowerCase();
    let map = this.#map;
    if (!map || (!map.has(p) && this.#now() - this.#builtAt >= this.#rebuildMs)) map = await this.#build();
    return map.get(p) ?? null;
  }

  close(): void {
    this.#unsubscribe();
  }

  #build(): Promise<Map<string, string>> {
    this.#building ??= (async () => {
      try {
        const map = new Map<string, string>();
        for (const id of await this.#book.patients()) map.set(this.pseudonymOf(id), id);
        this.#map = map;
        this.#builtAt = this.#now();
        return map;
      } finally {
        this.#building = null;
      }
    })();
    return this.#building;
  }
}
