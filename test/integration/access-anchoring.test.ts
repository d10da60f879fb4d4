/**
 * @module test/integration/access-anchoring
 * Issue 18 on a real dev chain (anvil, the embedded chain of io/anchoring/chain): the access
 * log's checkpoints, cut without a ledger first (they wait in the outbox), are anchored
 * under the access logId by the second gateway account the KGC registered for it, through the
 * same anchors contract, while the readings' log anchors as before under its own logId and
 * account; the readings' account cannot anchor the access log. An export of the anchored
 * access log verifies with the verifier core against the chain's evidence, for an auditor
 * (every patient) and for one patient. The deployment job registers an access account too.
 */
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  createReadClient,
  createViemLedger,
  createViemRegistry,
  fetchAnchors,
} from '../../anchor/src/ledger/index.js';
import { hashLeaf } from '../../anchor/src/log/index.js';
import { fetchChainEvidence } from '../../anchor/src/verify/index.js';
import { parseAccessBundle, verifyAccessBundle } from '../../anchor/src/verify-access/index.js';
import { accessLogOrigin, checkpointOrigin, logIdOf } from '../../gateway/src/core/log-names.js';
import { createAccessAnchoring, exportAccessBundle } from '../../gateway/src/io/access/index.js';
import {
  Anchorer,
  accountOf,
  CheckpointNotes,
  type EmbeddedChain,
  loadCheckpointSigner,
  runDeployJob,
  startEmbeddedChain,
} from '../../gateway/src/io/anchoring/index.js';
import { dataPaths } from '../../gateway/src/io/ops/index.js';
import { type GatewayStore, openStore } from '../../gateway/src/io/store/index.js';
import { accessEntry, PATIENT_A, PATIENT_B } from '../helpers/access-fixtures.js';
import { makeTempDir } from '../helpers/tmp.js';

const GW = 'gw-fixture'; // the fixture entries name this gateway
const LOG_ID = logIdOf(checkpointOrigin(GW));
const ACCESS_LOG_ID = logIdOf(accessLogOrigin(GW));

describe('access log anchoring on anvil', () => {
  const tmp = makeTempDir('vt-access-chain-');
  const paths = dataPaths(tmp.dir);
  let chain: EmbeddedChain;
  let store: GatewayStore;

  beforeAll(async () => {
    chain = await startEmbeddedChain(paths, LOG_ID, { accessLogId: ACCESS_LOG_ID });
    store = openStore(paths.db);
  }, 60_000);
  afterAll(async () => {
    store?.close();
    await chain?.anvil.stop();
    tmp.cleanup();
  });

  test('behavior: the KGC registered a second account for the access logId, one logId per account', async () => {
    const registry = createViemRegistry({
      rpcUrl: chain.rpcUrl,
      deployment: chain.deployment,
      privateKey: chain.kgcKey,
    });
    expect(accountOf(chain.accessKey!)).not.toBe(accountOf(chain.gatewayKey));
    expect(await registry.isActiveGateway(accountOf(chain.gatewayKey), LOG_ID)).toBe(true);
    expect(await registry.isActiveGateway(accountOf(chain.accessKey!), ACCESS_LOG_ID)).toBe(true);
    expect(await registry.isActiveGateway(accountOf(chain.accessKey!), LOG_ID)).toBe(false);
  });

  test('behavior: checkpoints cut without a ledger are anchored later by the access account; the readings log anchors as before', async () => {
    // 1. No ledger yet: the checkpointer fills the access outbox.
    const offline = createAccessAnchoring({ store, paths, gatewayId: GW, intervalMs: 1e6 });
    expect(offline.account).toBe(accountOf(chain.accessKey!)); // the key file the chain registered
    for (let i = 0; i < 3; i++)
      offline.log.append(accessEntry({ at: 1000 + i, patient: i === 1 ? PATIENT_B : PATIENT_A }));
    offline.checkpointer!.tick();
    expect(offline.log.pendingCheckpoints().map((c) => c.treeSize)).toEqual([3]);

    // 2. With the ledger: the same outbox is anchored in order, then new checkpoints follow.
    const ledger = { rpcUrl: chain.rpcUrl, deployment: chain.deployment };
    const access = createAccessAnchoring({ store, paths, gatewayId: GW, intervalMs: 1e6, ledger });
    const anchorer = access.anchorer!;
    await anchorer.reconcile();
    expect(await anchorer.submitPending()).toBe(1);
    access.log.append(
      accessEntry({
        at: 2000,
        role: 'doctor',
        actor: `0x${'d4'.repeat(20)}`,
        basis: { type: 'consent', consentId: `0x${'c3'.repeat(32)}`, chainId: 31337 },
      }),
    );
    access.log.append(accessEntry({ at: 2001, role: 'patient', actor: 'pat-a', basis: { type: 'self' } }));
    await anchorer.tick();
    expect(access.log.anchoredCheckpoints().map((c) => c.treeSize)).toEqual([3, 5]);
    expect(anchorer.status()).toMatchObject({ pending: 0, lastAnchoredSize: 5, lastError: null });

    // 3. The readings' log: its own anchorer, account and logId, unchanged.
    for (let i = 0; i < 4; i++) store.appendLeaf(hashLeaf(Buffer.from(`frame-${i}`)), () => undefined);
    const readings = new Anchorer({
      store,
      ledger: createViemLedger({ ...ledger, privateKey: chain.gatewayKey }),
      logId: LOG_ID,
      intervalMs: 1e6,
      notes: new CheckpointNotes(store),
      signer: loadCheckpointSigner(paths, checkpointOrigin(GW)),
    });
    await readings.reconcile();
    await readings.tick();
    expect(store.latestAnchored()?.treeSize).toBe(4);

    // On chain: each log under its own logId, each sent by its own account.
    const onChain = async (logId: `0x${string}`) =>
      fetchAnchors({ rpcUrl: chain.rpcUrl, deployment: chain.deployment, logId });
    const accessAnchors = await onChain(ACCESS_LOG_ID);
    expect(accessAnchors.map((a) => a.treeSize)).toEqual([3, 5]);
    expect((await onChain(LOG_ID)).map((a) => a.treeSize)).toEqual([4]);
    const reader = createReadClient(chain.rpcUrl);
    const tx = await reader.getTransaction({ hash: accessAnchors[1]!.txHash });
    expect(tx.from.toLowerCase()).toBe(accountOf(chain.accessKey!).toLowerCase());

    // The readings' account may not anchor the access log (the registry's one logId per account).
    const wrong = createViemLedger({ ...ledger, privateKey: chain.gatewayKey });
    await expect(
      wrong.anchor({
        logId: ACCESS_LOG_ID,
        treeSize: 6,
        rootHash: `0x${'11'.repeat(32)}`,
        checkpointTime: 1,
      }),
    ).rejects.toMatchObject({ code: 'not_active_gateway' });

    // 4. Export, then verify against the chain's evidence.
    const evidence = await fetchChainEvidence({
      rpcUrl: chain.rpcUrl,
      contract: chain.deployment.anchors,
      logIds: [ACCESS_LOG_ID],
    });
    const all = exportAccessBundle({ log: access.log, deployment: chain.deployment, vkey: access.vkey });
    const report = verifyAccessBundle(
      parseAccessBundle(JSON.parse(JSON.stringify(all.bundle))),
      evidence.anchors,
      {
        vkey: access.vkey,
      },
    );
    expect(report.verdict).toBe('VALID');
    expect(report.coversWholeLog).toBe(true);
    expect(report.entries.map((e) => e.anchoredBlock !== undefined)).toEqual(Array(5).fill(true));

    const mine = exportAccessBundle({
      log: access.log,
      deployment: chain.deployment,
      vkey: access.vkey,
      patient: PATIENT_A,
    });
    expect(mine).toMatchObject({ entries: 4, withheld: 1, pendingAnchor: 0 });
    const r2 = verifyAccessBundle(parseAccessBundle(mine.bundle), evidence.anchors, { vkey: access.vkey });
    expect(r2.verdict).toBe('VALID');
    expect(r2.entries.map((e) => e.code)).toEqual(['valid', 'withheld', 'valid', 'valid', 'valid']);

    // The time range selects by access time: [2000, 2001] is leaves 3 and 4.
    const range = exportAccessBundle({
      log: access.log,
      deployment: chain.deployment,
      vkey: access.vkey,
      from: 2000,
      to: 2001,
    });
    expect(range.bundle.scope).toMatchObject({ fromIndex: 3, toIndex: 5 });
    expect(verifyAccessBundle(range.bundle, evidence.anchors, { vkey: access.vkey }).verdict).toBe('VALID');
  }, 60_000);

  test('behavior: the deployment job registers a gateway access account beside its readings account', async () => {
    const key = generatePrivateKey();
    const accessKey = generatePrivateKey();
    const r = await runDeployJob({
      rpcUrl: chain.rpcUrl,
      deployerKey: chain.kgcKey,
      out: paths.deployment,
      gateways: [{ id: 'gw-2', key, accessKey }],
    });
    expect(r).toMatchObject({ deployed: false, registered: ['gw-2'], registeredAccess: ['gw-2'] });
    const registry = createViemRegistry({
      rpcUrl: chain.rpcUrl,
      deployment: chain.deployment,
      privateKey: chain.kgcKey,
    });
    expect(
      await registry.isActiveGateway(
        privateKeyToAccount(accessKey).address,
        logIdOf(accessLogOrigin('gw-2')),
      ),
    ).toBe(true);
  }, 60_000);
});
