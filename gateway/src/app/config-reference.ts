/**
 * @module app/config-reference
 * What the configuration file's fields (app/config-fields) are called outside the file: each
 * field's environment variable (`envNameOf`), and the reference table of every field, its
 * variable, type, default and meaning (`configReference`: the README's table and `vitaltrail
 * config schema`). Split from app/config, which reads and checks a file.
 */
import { typeText } from './config-check.js';
import { CONFIG_FIELDS } from './config-fields.js';

/** `mqtt.sessionExpirySeconds` → `VITALTRAIL_MQTT__SESSION_EXPIRY_SECONDS`. */
export function envNameOf(path: string): string {
  return `VITALTRAIL_${path
    .split('.')
    .map((s) => s.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase())
    .join('__')}`;
}

/** The configuration reference as a Markdown table (README, `vitaltrail config schema`). */
export function configReference(): string {
  const rows = CONFIG_FIELDS.flatMap((f) => {
    const def =
      f.default === undefined ? (f.requiredWhen ? (f.requiredText ?? 'required') : '—') : `\`${f.default}\``;
    const row = `| \`${f.path}\` | \`${envNameOf(f.path)}\` | ${typeText(f.type)} | ${def} | ${f.doc} |`;
    if (f.type.kind !== 'list') return [row];
    return [
      row,
      ...f.type.item.map((i) => {
        const d = i.default === undefined ? (i.required ? 'required' : '—') : `\`${i.default}\``;
        return `| \`${f.path}[].${i.key}\` | — | ${typeText(i.type)} | ${d} | ${i.doc} |`;
      }),
    ];
  });
  return ['| field | environment | type | default | meaning |', '|---|---|---|---|---|', ...rows].join('\n');
}
