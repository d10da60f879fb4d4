/**
 * @module cli/consent
 * `vitaltrail consent …` (issue 18): the registration authority's (the KGC's) writes to the
 * consent contract, and the ids they take. Doctors and nurses are registered by clinician id
 * (the SHA-256 of an account address or of a KGC-issued key's SubjectPublicKeyInfo) and can be
 * suspended and reinstated; a patient's signing key is registered or replaced (the portal
 * registers a patient's first key through a gateway that holds the authority; a lost key is
 * replaced here, after the office has checked who asks). On the data directory's embedded chain
 * while the demo runs, or on an external chain with `--rpc`, `--deployment`, `--key-file`.
 *
 * - `consent clinician-id --address 0x…` prints the id of an account.
 * - `consent pseudonym --patient ID` prints a patient's pseudonym under the data dir's key.
 * - `consent register-clinician --id HEX | --address 0x… --role doctor|nurse`
 * - `consent suspend-clinician --id HEX`, `consent reinstate-clinician --id HEX`
 * - `consent clinician --id HEX` prints the registry's record.
 * - `consent register-patient-key --pseudonym HEX | --patient ID --address 0x…`
 * Every write waits for its receipt and prints its transaction; a refusal exits with its code
 * (`not_kgc`, `registry_rejected` naming the contract's rule, `ledger_unavailable`, …).
 */
import { existsSync } from 'node:fs';
import { type Command, InvalidArgumentError } from 'commander';
import { type ConsentClient, clinicianIdOf, createConsentClient } from '../../../anchor/src/consent/index.js';
import { type Hex, LedgerError } from '../../../anchor/src/ledger/index.js';
import { PSEUDONYM_KEY_BYTES, pseudonymOf } from '../core/pseudonym.js';
import { dataPaths, keyFile } from '../io/ops/index.js';
import {
  type RegistryOptionValues,
  readAccountKey,
  readDeploymentFile,
  withRegistryOptions,
} from './chain-options.js';
import { UsageError } from './errors.js';
import { reachableChain } from './kgc-enroll.js';

const HEX32 = /^0x[0-9a-fA-F]{64}$/;
const ADDRESS = /^0x[0-9a-fA-F]{40}$/;
const PATIENT_ID = /^[A-Za-z0-9._:/-]{1,64}$/;

function hex32Option(value: string): Hex {
  if (!HEX32.test(value)) throw new InvalidArgumentError('0x and 64 hex digits');
  return value.toLowerCase() as Hex;
}
function addressOption(value: string): Hex {
  if (!ADDRESS.test(value)) throw new InvalidArgumentError('an account address, 0x and 40 hex digits');
  return value.toLowerCase() as Hex;
}
function patientOption(value: string): string {
  if (!PATIENT_ID.test(value)) throw new InvalidArgumentError('1-64 chars of [A-Za-z0-9._:/-]');
  return value;
}

type ChainOptions = RegistryOptionValues & { data: string };

/** The authority's client: `--rpc …` or the data dir's running embedded chain. */
async function authority(o: ChainOptions, source: string): Promise<ConsentClient> {
  if (o.rpc) {
    const paths = dataPaths(o.data);
    return createConsentClient({
      rpcUrl: o.rpc,
      deployment: readDeploymentFile('--deployment', o.deployment ?? paths.deployment, source),
      privateKey: readAccountKey('--key-file', o.keyFile ?? paths.kgcAccountKey, source),
      confirmations: o.confirmations ?? 0,
    });
  }
  const chain = await reachableChain(o.data);
  if (!chain)
    throw new LedgerError(
      'ledger_unavailable',
      `${source}: no chain: start the demo on --data, or name an external chain with --rpc`,
    );
  return createConsentClient({
    rpcUrl: chain.rpcUrl,
    deployment: chain.deployment,
    privateKey: chain.kgcKey,
  });
}

/** A patient's pseudonym under the data dir's key (which must exist: a gateway made it). */
function pseudonymFromData(data: string, patientId: string): Hex {
  const paths = dataPaths(data);
  if (!existsSync(paths.pseudonymKey))
    throw new UsageError(
      `${paths.pseudonymKey} does not exist: the pseudonym key is made at a gateway's first start`,
    );
  return pseudonymOf(keyFile(paths.pseudonymKey, PSEUDONYM_KEY_BYTES), patientId) as Hex;
}

function chainCommand(parent: Command, name: string, description: string, defaultDataDir: string): Command {
  return withRegistryOptions(
    parent.command(name).description(description).option('--data <dir>', 'data directory', defaultDataDir),
    'optional',
  );
}

const out = (line: string) => process.stdout.write(`${line}\n`);

export function registerConsentCommands(program: Command, defaultDataDir: string): void {
  const consent = program
    .command('consent')
    .description(
      "the registration authority's writes to the consent contract (issue 18): clinicians, patients' keys",
    );

  consent
    .command('clinician-id')
    .description(
      "print the clinician id of an account address (SHA-256 of its 20 bytes): a doctor's `--clinician`",
    )
    .requiredOption('--address <0x…>', 'the account address', addressOption)
    .action((o: { address: Hex }) => {
      out(clinicianIdOf(o.address));
    });

  consent
    .command('pseudonym')
    .description(
      "print a patient's pseudonym under the data directory's pseudonym key (what the chain names)",
    )
    .requiredOption('--patient <id>', 'the patient id', patientOption)
    .option('--data <dir>', 'data directory', defaultDataDir)
    .action((o: { patient: string; data: string }) => {
      out(pseudonymFromData(o.data, o.patient));
    });

  chainCommand(
    consent,
    'register-clinician',
    'register a doctor or a nurse in the consent contract',
    defaultDataDir,
  )
    .option('--id <hex>', 'the clinician id, 0x and 64 hex digits', hex32Option)
    .option('--address <0x…>', "the clinician's account (its id is computed)", addressOption)
    .requiredOption('--role <role>', 'doctor or nurse', (v: string) => {
      if (v !== 'doctor' && v !== 'nurse') throw new InvalidArgumentError('doctor or nurse');
      return v;
    })
    .action(async (o: ChainOptions & { id?: Hex; address?: Hex; role: 'doctor' | 'nurse' }) => {
      if ((o.id === undefined) === (o.address === undefined))
        throw new UsageError('give --id or --address, one of them');
      const id = o.id ?? clinicianIdOf(o.address as Hex);
      const tx = await (await authority(o, 'consent register-clinician')).registerClinician(id, o.role);
      out(`registered ${o.role} ${id} in tx ${tx.txHash} (block ${tx.block})`);
    });

  for (const [name, verb] of [
    ['suspend-clinician', 'suspend'],
    ['reinstate-clinician', 'reinstate'],
  ] as const) {
    chainCommand(
      consent,
      name,
      `${verb} a clinician: effective on every gateway within its consent refresh`,
      defaultDataDir,
    )
      .requiredOption('--id <hex>', 'the clinician id', hex32Option)
      .action(async (o: ChainOptions & { id: Hex }) => {
        const client = await authority(o, `consent ${name}`);
        const tx =
          verb === 'suspend' ? await client.suspendClinician(o.id) : await client.reinstateClinician(o.id);
        out(
          `${verb === 'suspend' ? 'suspended' : 'reinstated'} ${o.id} in tx ${tx.txHash} (block ${tx.block})`,
        );
      });
  }

  chainCommand(consent, 'clinician', "print a clinician's record in the consent contract", defaultDataDir)
    .requiredOption('--id <hex>', 'the clinician id', hex32Option)
    .action(async (o: ChainOptions & { id: Hex }) => {
      const c = await (await authority(o, 'consent clinician')).clinician(o.id);
      out(c ? JSON.stringify({ id: o.id, ...c }) : JSON.stringify({ id: o.id, registered: false }));
    });

  chainCommand(
    consent,
    'register-patient-key',
    "register or replace a patient's signing key (a replaced key signs nothing more)",
    defaultDataDir,
  )
    .option('--pseudonym <hex>', "the patient's pseudonym", hex32Option)
    .option('--patient <id>', "the patient id (its pseudonym under the data dir's key)", patientOption)
    .requiredOption('--address <0x…>', "the patient's new key's account", addressOption)
    .action(async (o: ChainOptions & { pseudonym?: Hex; patient?: string; address: Hex }) => {
      if ((o.pseudonym === undefined) === (o.patient === undefined))
        throw new UsageError('give --pseudonym or --patient, one of them');
      const pseudonym = o.pseudonym ?? pseudonymFromData(o.data, o.patient as string);
      const tx = await (await authority(o, 'consent register-patient-key')).registerPatientKey(
        pseudonym,
        o.address,
      );
      out(`registered key ${o.address} for ${pseudonym} in tx ${tx.txHash} (block ${tx.block})`);
    });
}
