/**
 * @module test/helpers/yaml-subset
 * A strict parser for the YAML subset our deployment files are written in (no YAML
 * library is installed): block mappings and sequences with space indentation, `#`
 * comments, plain scalars, double-quoted (JSON) and single-quoted scalars, `{}` and `[]`.
 * Anything else — anchors, aliases, merge keys, tags, block scalars, flow collections
 * with content, tabs, duplicate keys — is an error, so a file that parses here means
 * the same to any YAML 1.2 parser. Scalars stay strings (the checks compare text).
 */

export type YamlValue = string | null | YamlValue[] | { [key: string]: YamlValue };

interface Line {
  no: number;
  indent: number;
  text: string;
}

export class YamlSubsetError extends Error {
  override readonly name = 'YamlSubsetError';
}

/** Removes a trailing ` # comment` outside quotes. */
function stripComment(text: string): string {
  let quote: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = null;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '#' && (i === 0 || text[i - 1] === ' ')) return text.slice(0, i).trimEnd();
  }
  return text;
}

function scalar(raw: string, no: number): YamlValue {
  const s = raw.trim();
  const fail = (why: string) => {
    throw new YamlSubsetError(`line ${no}: ${why}`);
  };
  if (s === '' || s === '~' || s === 'null') return null;
  if (s === '{}') return {};
  if (s === '[]') return [];
  if (s.startsWith('"')) {
    try {
      return JSON.parse(s) as string;
    } catch {
      return fail('bad double-quoted scalar');
    }
  }
  if (s.startsWith("'")) {
    if (!s.endsWith("'") || s.length < 2) fail('bad single-quoted scalar');
    const inner = s.slice(1, -1);
    if (/'(?!')/.test(inner.replace(/''/g, ''))) fail('bad single-quoted scalar');
    return inner.replace(/''/g, "'");
  }
  if (/^[&*!|>[{@`%]/.test(s) || s === '<<') fail(`unsupported YAML construct: ${s.slice(0, 12)}`);
  if (s.includes(': ') || s.endsWith(':')) fail('a plain scalar must not contain ": "');
  return s;
}

/** Splits `key: rest` (key plain or quoted); undefined when the text is no mapping entry. */
function splitKey(text: string, no: number): { key: string; rest: string } | undefined {
  const m = /^("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s"'#:][^:]*?)\s*:(?:\s+(.*))?$/.exec(text);
  if (!m) return undefined;
  const key = scalar(m[1] as string, no);
  if (typeof key !== 'string') throw new YamlSubsetError(`line ${no}: keys must be strings`);
  if (key === '<<') throw new YamlSubsetError(`line ${no}: merge keys are not supported`);
  return { key, rest: m[2] ?? '' };
}

/**
 * Parses a document of the subset.
 * @throws {YamlSubsetError} naming the line of the first construct outside the subset
 */
export function parseYamlSubset(src: string): YamlValue {
  const lines: Line[] = [];
  src.split('\n').forEach((raw, i) => {
    if (raw.includes('\t')) throw new YamlSubsetError(`line ${i + 1}: tabs are not allowed`);
    const text = stripComment(raw).trimEnd();
    if (text.trim() === '' || text.trim() === '---') return;
    lines.push({ no: i + 1, indent: text.length - text.trimStart().length, text: text.trimStart() });
  });
  if (lines.length === 0) return null;
  let i = 0;

  const block = (indent: number): YamlValue => {
    const first = lines[i] as Line;
    return first.text === '-' || first.text.startsWith('- ') ? seq(indent) : map(indent);
  };

  const nested = (parentIndent: number): YamlValue => {
    const next = lines[i];
    if (!next || next.indent <= parentIndent) return null;
    return block(next.indent);
  };

  const seq = (indent: number): YamlValue[] => {
    const out: YamlValue[] = [];
    while (i < lines.length && (lines[i] as Line).indent === indent) {
      const line = lines[i] as Line;
      if (!(line.text === '-' || line.text.startsWith('- ')))
        throw new YamlSubsetError(`line ${line.no}: expected "- "`);
      const rest = line.text.slice(1).trimStart();
      if (rest === '') {
        i++;
        out.push(nested(indent));
      } else if (splitKey(rest, line.no) && !rest.startsWith('"') && !rest.startsWith("'")) {
        // A mapping as a list item: continue it at the item's content indentation.
        lines[i] = { no: line.no, indent: indent + 2, text: rest };
        out.push(map(indent + 2));
      } else {
        i++;
        out.push(scalar(rest, line.no));
      }
    }
    return out;
  };

  const map = (indent: number): Record<string, YamlValue> => {
    const out: Record<string, YamlValue> = {};
    while (i < lines.length && (lines[i] as Line).indent === indent) {
      const line = lines[i] as Line;
      const kv = splitKey(line.text, line.no);
      if (!kv) throw new YamlSubsetError(`line ${line.no}: expected "key: value"`);
      if (Object.hasOwn(out, kv.key)) throw new YamlSubsetError(`line ${line.no}: duplicate key ${kv.key}`);
      i++;
      out[kv.key] = kv.rest === '' ? nested(indent) : scalar(kv.rest, line.no);
    }
    return out;
  };

  const doc = block((lines[0] as Line).indent);
  if (i < lines.length) throw new YamlSubsetError(`line ${(lines[i] as Line).no}: unexpected indentation`);
  return doc;
}
