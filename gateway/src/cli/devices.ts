/**
 * @module cli/devices
 * `vitaltrail devices` (the enrolled devices: id, status, last accepted seq, frame count) and
 * `vitaltrail devices gaps` (issue 3: the missing seq ranges of one device), read from the
 * gateway store of `--data`.
 */
import type { Command } from 'commander';
import { dataPaths } from '../io/ops/index.js';
import { openStore } from '../io/store/index.js';
import { DEFAULT_DATA_DIR, dataDirOption, deviceIdOption } from './inputs.js';

/**
 * Adds `devices` and `devices gaps` to the program.
 * @example
 * registerDevicesCommands(program);
 */
export function registerDevicesCommands(program: Command, defaultDataDir = DEFAULT_DATA_DIR): void {
  const devices = program
    .command('devices')
    .description('list enrolled devices: id, status, last accepted seq, frame count')
    .addOption(dataDirOption(defaultDataDir))
    .option('--json', 'print JSON')
    .action((o) => {
      const store = openStore(dataPaths(o.data).db);
      try {
        const rows = store.listDevices().map((d) => ({
          dev: d.dev,
          status: d.status,
          lastSeq: d.lastSeq,
          frames: d.frameCount,
          spkiSha256: d.spkiSha256,
        }));
        if (o.json) {
          process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
        } else {
          process.stdout.write(
            `${'DEVICE'.padEnd(24)} ${'STATUS'.padEnd(8)} ${'LAST SEQ'.padStart(9)} ${'FRAMES'.padStart(9)}\n`,
          );
          for (const r of rows) {
            process.stdout.write(
              `${r.dev.padEnd(24)} ${r.status.padEnd(8)} ${String(r.lastSeq ?? '-').padStart(9)} ${String(r.frames).padStart(9)}\n`,
            );
          }
          process.stdout.write(`${rows.length} device(s)\n`);
        }
      } finally {
        store.close();
      }
    });

  devices
    .command('gaps')
    .description(
      'missing seq ranges of a device (derived from the accepted frames; a later frame may fill them)',
    )
    .requiredOption('--device <id>', 'device id', deviceIdOption)
    .addOption(dataDirOption(defaultDataDir))
    .option('--json', 'print JSON')
    .action((_o, cmd: Command) => {
      // `devices` has --data and --json of its own: read the options wherever they were given.
      const o = cmd.optsWithGlobals<{ device: string; data: string; json?: boolean }>();
      const store = openStore(dataPaths(o.data).db);
      try {
        const gaps = store.seqGaps(o.device);
        if (o.json) process.stdout.write(`${JSON.stringify(gaps)}\n`);
        else {
          for (const g of gaps) process.stdout.write(`${g.from === g.to ? g.from : `${g.from}-${g.to}`}\n`);
          process.stdout.write(`${gaps.length} gap(s)\n`);
        }
      } finally {
        store.close();
      }
    });
}
