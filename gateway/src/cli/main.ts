/**
 * @module cli/main
 * The `vitaltrail` command line: a thin shell over the gateway, the KGC, the simulator,
 * the exporter and the auditor's verifier. Every command has `--help`; state lives in
 * `--data DIR`. Exit codes: 0 success; 1 the command ran and found a problem (e.g. a
 * bundle entry did not verify); 2 it could not run (bad usage, missing files, no chain);
 * 3 `verify`: the bundle is INCOMPLETE (a gap or an unproven end; 0 with --allow-gaps).
 */
import { Command } from 'commander';
import { COMMAND_MODULES, type CommandModule, commandModulesFor } from './commands.js';
import { errorText } from './errors.js';
import { exitQuietlyOnEpipe, keepRunningOnEpipe, requireDataDir } from './inputs.js';

/** The commands that create a data directory; every other `--data` must exist (`data_dir_missing`). */
const DATA_DIR_CREATORS: ReadonlySet<string> = new Set(['demo', 'kgc init', 'restore']);
/** The commands that run a gateway: a closed stdout must not stop them (cli/inputs `keepRunningOnEpipe`). */
const LONG_RUNNING: ReadonlySet<string> = new Set(['demo', 'gateway']);

/**
 * The program with the commands of `modules` (cli/commands; all of them unless given).
 * @example
 * const program = await buildProgram();
 */
export async function buildProgram(modules: readonly CommandModule[] = COMMAND_MODULES): Promise<Command> {
  const program = new Command()
    .name('vitaltrail')
    .description(
      'VitalTrail IoMT gateway: signed vital signs, sealed storage, live ward, anchored transparency log',
    )
    .showHelpAfterError()
    .exitOverride();

  // A mistyped --data must not become a new, empty store: only these create a data directory.
  program.hook('preAction', (_program, action) => {
    const name = [action.parent?.name(), action.name()].filter((n) => n && n !== 'vitaltrail').join(' ');
    if (LONG_RUNNING.has(name)) keepRunningOnEpipe();
    if (DATA_DIR_CREATORS.has(name)) return;
    const opts = action.optsWithGlobals();
    // `--config FILE` names the data directory: checked by app/config (`gateway`), by
    // cli/gateway-config (`export`, `export-fhir`, `outbound status`) or cli/users.
    if (opts.config !== undefined) return;
    const data = opts.data as unknown;
    for (const dir of Array.isArray(data) ? data : [data]) if (typeof dir === 'string') requireDataDir(dir);
  });

  for (const m of modules) await m.register(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  exitQuietlyOnEpipe();
  const program = await buildProgram(commandModulesFor(argv));
  try {
    await program.parseAsync(argv);
  } catch (err) {
    const e = err as { code?: string; exitCode?: number };
    if (typeof e.code === 'string' && e.code.startsWith('commander.')) {
      // --help and --version exit 0; usage errors were printed by commander.
      process.exitCode = e.exitCode === 0 ? 0 : 2;
      return;
    }
    process.stderr.write(`error: ${errorText(err)}\n`);
    process.exitCode = 2;
  }
}
