/**
 * @module io/outbound/export
 * Disclosure bundles (PROTOCOL.md §5): the frames of one or more devices, of a patient
 * (the devices bound to them, each within its binding periods), or of every device, in a
 * device-clock time range, each with its inclusion proof, plus the
 * certificates, the anchored checkpoints and the consistency proofs between them that
 * let anyone verify them without trusting this gateway.
 *
 * Checkpoints: each entry is proven against the FIRST anchored checkpoint that covers it
 * (the smallest anchored tree size above its leaf index), because that anchor's block is
 * the earliest on-chain evidence of the frame's log position, the one the registry-at-time
 * rule and back-dating questions need. The bundle cites those checkpoints plus the latest
 * anchored one, in ascending size, with a consistency proof between each consecutive pair
 * ("a bundle citing several checkpoints of one log carries a chain of them", §5).
 *
 * Completeness (PROTOCOL.md §6; README "Completeness"): per selected device and window,
 * the range is the seq run from the first to the last selected frame, every anchored frame
 * of the device in that run included (also one whose device clock lies outside the window,
 * so the chain has no hole of our making); then the device's last anchored frame before its
 * first run and its first anchored frame after its last run are added as boundary frames
 * (`"boundary": "before"` / `"after"`), proven like any entry, so that the verifier proves
 * both ends from the seq/prev chain (one of each per device: frames between two windows of
 * a patient export stay undisclosed, a gap the verifier reports). A device asked for by
 * name without a frame in its window gets the two frames around it as boundaries (proving
 * it had none there).
 * No `before` exists when the run starts at the device's first logged frame; no `after`
 * when it ends at its latest anchored frame (the verifier then reports that end `open`).
 * Boundary frames are disclosed in full: their readings lie outside the asked range.
 *
 * Shredded frames (data key destroyed under retention) are emitted as
 * `{leafIndex, treeSize, leafHash, shredded: true, proof}` with the log's leaf hash, and
 * the shredding records that list them (io/store/shredding) go in `shreddings` as
 * `{leafIndex, treeSize, record, proof}` (record: standard base64 of its bytes), proven
 * against an anchored checkpoint like an entry: additive extensions of §5 (README
 * "Shredding records"). A record not anchored yet is left out and counted
 * (`shreddingPending`): its entries then verify `malformed` until the next export.
 *
 * Streaming: `exportBundleToFile` writes the entries one by one (memory holds the frame
 * index rows of the selection and the reader's bounded caches, not the bundle).
 *
 * The export trusts nothing it reads back from disk: each envelope must authenticate
 * (AES-GCM tag, bound to its batch by AAD), and each frame it yields must hash to the
 * leaf recorded in the log and to the frame hash recorded in the index. Anything else is
 * an `integrity_error` naming the batch or the entry; nothing is exported as valid.
 */
import { once } from 'node:events';
import { createWriteStream, readFileSync } from 'node:fs';
import { readKgcTrust } from '../../../../anchor/src/kgc/index.js';
import type { Deployment } from '../../../../anchor/src/ledger/index.js';
import type { RecipientSecret } from '../../core/envelope.js';
import { toHex } from '../../core/log-names.js';
import { errorClass } from '../../protocol/errors.js';
import { supersededCertificates } from '../identity/index.js';
import { type DataPaths, openSafeOutput } from '../ops/index.js';
import { TooManyReadings } from '../queries/index.js';
import { inWindows } from '../reading/index.js';
import type { CheckpointRow, FrameIndexRow, GatewayStore } from '../store/index.js';
import { type FrameRead, SealedError, SealedReader, shredRecordsCovering } from '../store/index.js';
import type { BoundaryJson, DisclosureBundleJson, EntryJson, ShreddingJson } from './bundle-json.js';

export class ExportError extends errorClass<'export'>('ExportError') {}

export type { BoundaryJson, DisclosureBundleJson, EntryJson, ShreddingJson } from './bundle-json.js';

export interface ExportParameters {
  store: GatewayStore;
  paths: DataPaths;
  deployment: Pick<Deployment, 'chainId' | 'anchors'>;
  origin: string;
  logId: string;
  /** The devices to export; absent or empty = every device of the store (a time-range export). */
  devices?: readonly string[];
  /**
   * Instead of `devices`: device-clock periods per device (a patient's binding history,
   * `Bindings.devicesOf`); `to: null` = still bound. Intersected with `from`/`to`.
   */
  periods?: readonly { dev: string; from: number; to: number | null }[];
  /** Inclusive device-clock range, ms since epoch. */
  from?: number;
  to?: number;
  secrets: readonly RecipientSecret[];
  /** Called every 1000 entries and once at the end. */
  onProgress?: (done: number, total: number) => void;
  /** The most frames the windows may hold (a download's bound): past it, `too_many_readings`. */
  maxRows?: number;
}

export interface ExportResult {
  bundle: DisclosureBundleJson;
  /** Boundary frames among the entries (README "Completeness"). */
  boundaries: number;
  /** Frames of the range accepted after the latest anchored checkpoint (not yet provable). */
  pendingAnchor: number;
  /** Shredding records of the range not anchored yet (their shredded entries do not verify yet). */
  shreddingPending: number;
  /** Entries shredded while the export ran, their records not in it (`ExportPlan.shreddedUnrecorded`). */
  shreddedUnrecorded: number;
}

type Head = Omit<DisclosureBundleJson, 'entries'>;

/** A planned bundle (`planExport`): the head, and the entries read, authenticated and proven one by one. */
export interface ExportPlan {
  head: Head;
  total: number;
  pendingAnchor: number;
  shreddingPending: number;
  /**
   * Entries read `shredded` whose record is not in the bundle (nor pending): their keys were
   * destroyed after the plan, while the export ran. They verify `malformed` until an export
   * after the next checkpoint. Known once `entries` is done.
   */
  shreddedUnrecorded: () => number;
  /** Boundary frames among the entries. */
  boundaries: number;
  /** The boundary frames by leaf index: device, device time, which end (a care download keeps the patient's own). */
  edges: ReadonlyMap<number, { dev: string; ts: number; role: BoundaryJson }>;
  entries: () => AsyncGenerator<EntryJson>;
}

/** Rows read per call of the sealed reader: bounds memory, amortises key unwrapping. */
const READ_CHUNK = 256;

/**
 * Plans an export: selects the index rows (each window's an hour of device time at a time,
 * with a turn of the event loop between: io/reading `inWindows`), picks the checkpoints,
 * builds the consistency chain; `entries()` then reads, authenticates and proves the frames
 * one by one.
 * @throws {ExportError} `not_found`, `not_anchored`, `integrity_error`; {TooManyReadings} past `maxRows`.
 */
export async function planExport(p: ExportParameters): Promise<ExportPlan> {
  const { store } = p;
  const from = p.from ?? 0;
  const to = p.to ?? Number.MAX_SAFE_INTEGER;
  // The selection: (dev, from, to) windows of the device clock, inclusive.
  const selected = () => (p.devices?.length ? [...new Set(p.devices)] : store.devices().map((d) => d.dev));
  const windows = p.periods
    ? p.periods.map((w) => ({
        dev: w.dev,
        from: Math.max(from, w.from),
        to: Math.min(to, w.to ?? Number.MAX_SAFE_INTEGER),
      }))
    : selected().map((dev) => ({ dev, from, to }));
  const wanted = [...new Set(windows.map((w) => w.dev))];
  const named = (p.devices?.length ?? 0) > 0 || p.periods !== undefined;
  const certs = new Map<string, string>();
  for (const dev of wanted) {
    const device = store.getDevice(dev);
    if (!device) throw new ExportError('not_found', 'no such device in this gateway');
    certs.set(dev, device.certPem);
  }
  const anchored = store
    .anchoredCheckpoints()
    .filter((c) => c.txHash !== null && c.blockNumber !== null)
    .sort((a, b) => a.treeSize - b.treeSize);
  const latest = anchored.at(-1);
  if (!latest) {
    throw new ExportError(
      'not_anchored',
      'no checkpoint has been anchored yet; try again after the next interval',
    );
  }
  const rows: FrameIndexRow[] = [];
  const seen = new Set<number>(); // each frame once
  const boundary = new Map<number, BoundaryJson>(); // leaf index -> role, for boundary frames
  const edges = new Map<number, { dev: string; ts: number; role: BoundaryJson }>();
  const add = (r: FrameIndexRow, role?: BoundaryJson): void => {
    if (seen.has(r.leafIndex)) return;
    seen.add(r.leafIndex);
    rows.push(r);
    if (role) {
      boundary.set(r.leafIndex, role);
      edges.set(r.leafIndex, { dev: r.dev, ts: r.ts, role });
    }
  };
  let pendingAnchor = 0;
  const pending = new Set<number>(); // frames of the selection not anchored yet, counted once
  const maxRows = p.maxRows ?? Number.POSITIVE_INFINITY;
  let held = 0; // frames of the windows read so far
  // Per device, its windows (a patient's binding periods may give one device several).
  const byDevice = new Map<string, { from: number; to: number }[]>();
  for (const w of windows) {
    if (w.from > w.to) continue;
    const list = byDevice.get(w.dev);
    if (list) list.push(w);
    else byDevice.set(w.dev, [w]);
  }
  for (const [dev, list] of byDevice) {
    // The seq runs of the windows: from the first to the last selected frame of each.
    const spans: { lo: number; hi: number; rows: FrameIndexRow[] }[] = [];
    let whole = false;
    for (const w of list) {
      const selected: FrameIndexRow[] = [];
      const fetch = (a: number, b: number) => store.framesByDevice(dev, a, b, Number.MAX_SAFE_INTEGER);
      const inWindow = await inWindows(fetch, w.from, w.to, maxRows - held);
      held += inWindow.length;
      if (held > maxRows) throw new TooManyReadings(maxRows);
      for (const r of inWindow) {
        if (r.leafIndex < latest.treeSize) selected.push(r);
        else if (!pending.has(r.leafIndex)) {
          pending.add(r.leafIndex);
          pendingAnchor++;
        }
      }
      if (selected.length > 0) spans.push({ lo: selected[0]!.seq, hi: selected.at(-1)!.seq, rows: selected });
      if (w.from <= 0 && w.to >= Number.MAX_SAFE_INTEGER) whole = true;
    }
    if (spans.length === 0 && !named) continue;
    if (whole) {
      // Every anchored frame of the device: nothing exists before it; nothing after it is proven.
      for (const r of store.framesByDevice(dev, 0, Number.MAX_SAFE_INTEGER, latest.treeSize)) add(r);
      continue;
    }
    // From here on, the device's anchored frames are read by seq where the export needs them,
    // never its whole history (a week of one device read whole held the event loop ~5 s).
    if (spans.length === 0) {
      // No frame in any window: the frames around the first window prove there was none.
      const split = store.lastSeqBefore(dev, list[0]!.from, latest.treeSize);
      spans.push({ lo: split + 1, hi: split, rows: [] });
    }
    // Every anchored frame of each window's seq span, whatever its ts: read by seq only where
    // the window's own rows do not already hold every seq of it (a frame sent late, a gap).
    for (const x of spans)
      for (const r of x.rows.length === x.hi - x.lo + 1
        ? x.rows
        : store.framesBySeq(dev, x.lo, x.hi, latest.treeSize))
        add(r);
    // One before and one after per device: the frames between two windows (a device bound
    // to someone else meanwhile) stay undisclosed, and the verifier reports that gap.
    const lo = Math.min(...spans.map((x) => x.lo));
    const hi = Math.max(...spans.map((x) => x.hi));
    for (const r of store.framesBeside(dev, lo, hi, latest.treeSize)) add(r, r.seq < lo ? 'before' : 'after');
  }
  rows.sort((a, b) => a.leafIndex - b.leafIndex);

  // The shredding records that list any selected frame, each proven by the first anchored
  // checkpoint covering it (README "Shredding records").
  const leavesByDev = new Map<string, Set<number>>();
  for (const r of rows) {
    const set = leavesByDev.get(r.dev);
    if (set) set.add(r.leafIndex);
    else leavesByDev.set(r.dev, new Set([r.leafIndex]));
  }
  const records: { leafIndex: number; bytes: Uint8Array }[] = [];
  let shreddingPending = 0;
  /** The leaves some record (in the bundle, or counted pending) lists: see `entries`. */
  const recorded = new Set<number>();
  for (const [dev, leaves] of leavesByDev) {
    for (const rec of shredRecordsCovering(store, dev, leaves)) {
      if (rec.leafIndex < latest.treeSize) records.push(rec);
      else shreddingPending++;
      for (const l of rec.record.leaves) recorded.add(l);
    }
  }
  let shreddedUnrecorded = 0;

  // The first anchored checkpoint covering each row (rows and checkpoints both ascend).
  const firstCover: number[] = [];
  const cited = new Map<number, CheckpointRow>([[latest.treeSize, latest]]);
  let k = 0;
  for (const row of rows) {
    while (anchored[k]!.treeSize <= row.leafIndex) k++;
    firstCover.push(anchored[k]!.treeSize);
    cited.set(anchored[k]!.treeSize, anchored[k]!);
  }
  const shreddings: ShreddingJson[] = records.map((rec) => {
    const cover = anchored.find((c) => c.treeSize > rec.leafIndex)!;
    cited.set(cover.treeSize, cover);
    return {
      leafIndex: rec.leafIndex,
      treeSize: cover.treeSize,
      record: Buffer.from(rec.bytes).toString('base64'),
      proof: store.inclusionProof(rec.leafIndex, cover.treeSize).map(toHex),
    };
  });
  const checkpoints = [...cited.values()].sort((a, b) => a.treeSize - b.treeSize);
  for (const cp of checkpoints) {
    if (Buffer.compare(store.root(cp.treeSize), cp.root) !== 0) {
      throw new ExportError(
        'integrity_error',
        `the log no longer has the anchored root of size ${cp.treeSize}`,
      );
    }
  }
  const consistency: Head['consistency'] = [];
  for (let i = 1; i < checkpoints.length; i++) {
    const a = checkpoints[i - 1]!.treeSize;
    const b = checkpoints[i]!.treeSize;
    // RFC 9162 §2.1.4: checkpoint b extends checkpoint a.
    consistency.push({ from: a, to: b, proof: store.consistencyProof(a, b).map(toHex) });
  }
  const present = new Set(rows.map((r) => r.dev));

  const head: Head = {
    format: 'vitaltrail-disclosure/1',
    chain: { chainId: p.deployment.chainId, contract: p.deployment.anchors },
    log: { origin: p.origin, logId: p.logId },
    kgc: {
      root: readFileSync(p.paths.kgcRootCert, 'utf8'),
      intermediates: readKgcTrust(p.paths.kgcDir).intermediatesPem,
    },
    // A device asked for by name is listed even without frames in the range.
    // Every certificate the device has had (re-enrolment), oldest first: the verifier checks
    // each frame against the one whose key signed it (PROTOCOL.md §6).
    devices: wanted
      .filter((dev) => present.has(dev) || named)
      .flatMap((dev) =>
        [...supersededCertificates(store, dev), certs.get(dev)!].map((cert) => ({ dev, cert })),
      ),
    checkpoints: checkpoints.map((cp) => ({
      treeSize: cp.treeSize,
      rootHash: toHex(cp.root),
      txHash: cp.txHash!,
      blockNumber: cp.blockNumber!,
    })),
    consistency,
    ...(shreddings.length > 0 ? { shreddings } : {}),
  };

  async function* entries(): AsyncGenerator<EntryJson> {
    // Decrypt path (issue 4): io/sealed opens both store formats and checks every frame
    // against the index and the log; each data key or batch is unwrapped once.
    const reader = new SealedReader(store, p.secrets);
    for (let start = 0; start < rows.length; start += READ_CHUNK) {
      const chunk = rows.slice(start, start + READ_CHUNK);
      let frames: FrameRead[];
      try {
        frames = await reader.read(chunk);
      } catch (err) {
        if (err instanceof SealedError && err.code === 'no_recipient_key') {
          throw new ExportError('not_found', 'no configured recipient key opens this data', { cause: err });
        }
        throw new ExportError(
          'integrity_error',
          err instanceof SealedError ? err.reason : 'stored data does not authenticate',
          { cause: err },
        );
      }
      for (let j = 0; j < chunk.length; j++) {
        const row = chunk[j]!;
        const bytes = frames[j]!;
        const treeSize = firstCover[start + j]!;
        const proof = store.inclusionProof(row.leafIndex, treeSize).map(toHex);
        const role = boundary.get(row.leafIndex);
        const marks = role ? { boundary: role } : {};
        if (bytes === 'shredded') {
          // Shredded under retention: the log's leaf hash stands in (extension of §5). Shredded
          // after the plan (a running gateway shreds between its commits): no record of it in
          // the head, already written; counted, so the caller says so.
          if (!recorded.has(row.leafIndex)) shreddedUnrecorded++;
          const leafHash = toHex(store.getNode(0, row.leafIndex));
          yield { leafIndex: row.leafIndex, treeSize, leafHash, shredded: true, proof, ...marks };
        } else {
          yield {
            leafIndex: row.leafIndex,
            treeSize,
            frame: Buffer.from(bytes).toString('base64'),
            proof,
            ...marks,
          };
        }
      }
    }
  }

  return {
    head,
    total: rows.length,
    pendingAnchor,
    shreddingPending,
    shreddedUnrecorded: () => shreddedUnrecorded,
    boundaries: boundary.size,
    edges,
    entries,
  };
}

/**
 * The bundle's JSON text, chunk by chunk, as `exportBundleToFile` writes it (the head, then
 * one entry a line): what a care download streams. `keep` may leave entries out (a
 * patient's download leaves out the boundary frames of other patients); `onEntry` is called
 * after each entry written.
 * @throws {ExportError} as `exportBundle`, from the entry where it happens.
 */
export async function* bundleText(
  plan: ExportPlan,
  o: { keep?: (e: EntryJson) => boolean; onEntry?: () => void } = {},
): AsyncGenerator<string> {
  yield `${JSON.stringify(plan.head).slice(0, -1)},"entries":[\n`;
  let n = 0;
  for await (const e of plan.entries()) {
    if (o.keep && !o.keep(e)) continue;
    yield `${n > 0 ? ',\n' : ''}${JSON.stringify(e)}`;
    n++;
    o.onEntry?.();
  }
  yield '\n]}\n';
}

/**
 * Builds a disclosure bundle in memory (small exports; `exportBundleToFile` streams large ones).
 * @throws {ExportError} `not_found` (unknown device, or no recipient key), `not_anchored`
 *   (no anchored checkpoint yet), `integrity_error` (stored data does not authenticate or
 *   match the log).
 * @example
 * const { bundle } = await exportBundle({ store, paths, deployment, origin, logId, devices: ['wr-0001'], secrets });
 */
export async function exportBundle(p: ExportParameters): Promise<ExportResult> {
  const plan = await planExport(p);
  const entries: EntryJson[] = [];
  for await (const e of plan.entries()) {
    entries.push(e);
    if (entries.length % 1000 === 0) p.onProgress?.(entries.length, plan.total);
  }
  p.onProgress?.(entries.length, plan.total);
  return {
    pendingAnchor: plan.pendingAnchor,
    shreddingPending: plan.shreddingPending,
    shreddedUnrecorded: plan.shreddedUnrecorded(),
    boundaries: plan.boundaries,
    bundle: { ...plan.head, entries },
  };
}

/**
 * Streams a disclosure bundle to `out` (mode 0600: it holds vital signs), one entry per
 * line, through a fresh O_EXCL|O_NOFOLLOW temporary file beside it, fsync'd and renamed
 * into place only when complete (`openSafeOutput`, io/ops/safe-write.ts).
 * @throws {OutputPathError} `output_path_invalid` for a directory, a symlink or a missing
 *   directory at `out` (checked before the export starts).
 * @throws {ExportError} as `exportBundle`; I/O errors of the output file as they are.
 * @example
 * await exportBundleToFile({ ...params, out: 'bundle.json', onProgress: (d, t) => bar(d, t) });
 */
export async function exportBundleToFile(p: ExportParameters & { out: string }): Promise<{
  entries: number;
  boundaries: number;
  pendingAnchor: number;
  shreddingPending: number;
  shreddedUnrecorded: number;
  checkpoints: number[];
}> {
  const out = openSafeOutput(p.out); // refuses a bad --out before the work
  let plan: ExportPlan;
  try {
    plan = await planExport(p);
  } catch (err) {
    out.abort();
    throw err;
  }
  // The descriptor is the safe writer's: the stream writes to it, the writer fsyncs and closes it.
  const stream = createWriteStream('', { fd: out.fd, autoClose: false });
  const write = async (chunk: string): Promise<void> => {
    if (!stream.write(chunk)) await once(stream, 'drain');
  };
  let done = 0;
  const onEntry = () => {
    done++;
    if (done % 1000 === 0) p.onProgress?.(done, plan.total);
  };
  try {
    for await (const chunk of bundleText(plan, { onEntry })) await write(chunk);
    stream.end();
    await once(stream, 'finish');
    out.commit();
  } catch (err) {
    // Let a write in flight finish (or fail) before the descriptor goes: a late EBADF on a
    // stream nobody listens to would end the process with a stack trace instead of the code.
    stream.on('error', () => undefined);
    stream.destroy();
    await once(stream, 'close').catch(() => undefined);
    out.abort();
    throw err;
  }
  p.onProgress?.(done, plan.total);
  return {
    entries: done,
    boundaries: plan.boundaries,
    pendingAnchor: plan.pendingAnchor,
    shreddingPending: plan.shreddingPending,
    shreddedUnrecorded: plan.shreddedUnrecorded(),
    checkpoints: plan.head.checkpoints.map((c) => c.treeSize),
  };
}
