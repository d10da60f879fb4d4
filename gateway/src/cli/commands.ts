/**
 * @module cli/commands
 * The index of the top-level commands: each with the module that registers it, loaded only
 * when needed. `vitaltrail verify …` loads the auditor's commands and nothing else; a
 * command's module graph is what makes a CLI start slow (loading every command's, with the
 * chain client, the gateway and the HTTP server, took 1.2 s of CPU before the first line of
 * `verify`). `vitaltrail --help`, `help` and a mistyped command load them all, so the help
 * lists every command and commander can suggest the nearest name.
 *
 * The order is the order of `vitaltrail --help`. test/unit/cli-commands.test.ts checks that
 * each entry registers exactly the names it lists.
 */
import type { Command } from 'commander';
import { DEFAULT_DATA_DIR } from './inputs.js';

export interface CommandModule {
  /** The top-level command names the module registers. */
  readonly names: readonly string[];
  /** Loads the module and adds its commands to `program`. */
  readonly register: (program: Command) => Promise<void>;
}

export const COMMAND_MODULES: readonly CommandModule[] = [
  { names: ['demo'], register: async (p) => (await import('./demo.js')).registerDemoCommand(p) },
  { names: ['devices'], register: async (p) => (await import('./devices.js')).registerDevicesCommands(p) },
  { names: ['sim'], register: async (p) => (await import('./sim.js')).registerSimCommand(p) },
  {
    names: ['export', 'verify-anchors-fetch'],
    register: async (p) => (await import('./auditor.js')).registerAuditorCommands(p),
  },
  { names: ['verify'], register: async (p) => (await import('./verify.js')).registerVerifyCommand(p) },
  {
    names: ['verify-access', 'verify-access-fetch', 'export-access'],
    register: async (p) => (await import('./access.js')).registerAccessCommands(p, DEFAULT_DATA_DIR),
  },
  {
    names: ['consent'],
    register: async (p) => (await import('./consent.js')).registerConsentCommands(p, DEFAULT_DATA_DIR),
  },
  {
    names: ['kgc'],
    register: async (p) => (await import('./kgc.js')).registerKgcCommands(p, DEFAULT_DATA_DIR),
  },
  {
    names: ['audit'],
    register: async (p) => (await import('./audit.js')).registerAuditCommands(p, DEFAULT_DATA_DIR),
  },
  {
    names: ['gateway'],
    register: async (p) => (await import('./gateway.js')).registerGatewayCommands(p, DEFAULT_DATA_DIR),
  },
  {
    names: ['users'],
    register: async (p) => (await import('./users.js')).registerUsersCommands(p, DEFAULT_DATA_DIR),
  },
  {
    names: ['displays'],
    register: async (p) => (await import('./displays.js')).registerDisplaysCommands(p, DEFAULT_DATA_DIR),
  },
  {
    names: ['recipients', 'export-fhir', 'shred'],
    register: async (p) => (await import('./store.js')).registerStoreCommands(p, DEFAULT_DATA_DIR),
  },
  {
    names: ['chain', 'config', 'scaleout'],
    register: async (p) => (await import('./production.js')).registerProductionCommands(p),
  },
  {
    names: ['outbound'],
    register: async (p) => (await import('./outbound.js')).registerOutboundCommands(p, DEFAULT_DATA_DIR),
  },
  {
    names: ['shared'],
    register: async (p) => (await import('./shared-import.js')).registerSharedCommands(p),
  },
  {
    names: ['anchors'],
    register: async (p) => (await import('./anchors.js')).registerAnchorsCommands(p, DEFAULT_DATA_DIR),
  },
  {
    names: ['backup', 'restore'],
    register: async (p) => (await import('./backup.js')).registerBackupCommands(p, DEFAULT_DATA_DIR),
  },
];

/**
 * The modules to load for a command line: the one that registers its command, or all of
 * them (for `--help`, `help`, no command or a mistyped one).
 * @param argv as `process.argv`: node, the script, then the command.
 * @example commandModulesFor(['node', 'vitaltrail', 'verify', 'b.json']) // [the auditor's]
 */
export function commandModulesFor(argv: readonly string[]): readonly CommandModule[] {
  const name = argv[2];
  const one = COMMAND_MODULES.find((m) => name !== undefined && m.names.includes(name));
  return one ? [one] : COMMAND_MODULES;
}
