// Reading the Prometheus text exposition format (version 0.0.4) that /metrics serves: what
// `orderer status` needs of it, samples with their labels. Comments (# HELP, # TYPE) are
// skipped; a line that is not a sample is an error naming the line, since a half-read scrape
// would show wrong figures.

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export class PromTextError extends Error {
  override readonly name = 'PromTextError';
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;

function parseValue(text: string, lineNo: number): number {
  switch (text) {
    case '+Inf':
      return Number.POSITIVE_INFINITY;
    case '-Inf':
      return Number.NEGATIVE_INFINITY;
    case 'NaN':
      return Number.NaN;
    default: {
      const v = Number(text);
      if (text.length === 0 || Number.isNaN(v)) throw new PromTextError(`line ${lineNo}: bad sample value ${JSON.stringify(text)}`);
      return v;
    }
  }
}

/** Label set `{a="x",b="y"}` starting at `line[start] === '{'`; returns the labels and the index after `}`. */
function parseLabels(line: string, start: number, lineNo: number): { labels: Record<string, string>; end: number } {
  const labels: Record<string, string> = {};
  let i = start + 1;
  const fail = (why: string): never => {
    throw new PromTextError(`line ${lineNo}: ${why} at column ${i + 1}`);
  };
  for (;;) {
    while (line[i] === ' ') i++;
    if (line[i] === '}') return { labels, end: i + 1 };
    const m = LABEL_NAME.exec(line.slice(i));
    if (m === null) fail('bad label name');
    const name = m![0];
    i += name.length;
    if (line[i] !== '=' || line[i + 1] !== '"') fail('expected ="');
    i += 2;
    let value = '';
    for (;;) {
      const c = line[i];
      if (c === undefined) fail('unterminated label value');
      if (c === '"') break;
      if (c === '\\') {
        const e = line[i + 1];
        value += e === 'n' ? '\n' : e === '\\' ? '\\' : e === '"' ? '"' : fail('bad escape');
        i += 2;
        continue;
      }
      value += c;
      i++;
    }
    labels[name] = value;
    i++;
    while (line[i] === ' ') i++;
    if (line[i] === ',') i++;
    else if (line[i] !== '}') fail('expected , or }');
  }
}

export function parsePromText(text: string): Sample[] {
  const samples: Sample[] = [];
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n]!.trim();
    if (line.length === 0 || line.startsWith('#')) continue;
    const m = NAME.exec(line);
    if (m === null) throw new PromTextError(`line ${n + 1}: bad metric name`);
    const name = m[0];
    let i = name.length;
    let labels: Record<string, string> = {};
    if (line[i] === '{') ({ labels, end: i } = parseLabels(line, i, n + 1));
    const rest = line.slice(i).trim().split(/\s+/);
    samples.push({ name, labels, value: parseValue(rest[0] ?? '', n + 1) });
  }
  return samples;
}
