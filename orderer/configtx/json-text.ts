// Go's encoding/json text, as protolator prints config JSON through it: keys sorted, tab
// indentation, HTML-safe escaping ('<', '>', '&' and U+2028/9 as \u003c...), \b and \f as
// \u0008 and \u000c, invalid UTF-16 as U+FFFD, a final newline. So our output diffs cleanly
// against configtxlator's.
import type { JsonValue } from './json';

/** Go's encoding/json string escaping (HTML-safe, as json.Encoder's default). */
function goQuote(text: string): string {
  // JSON.stringify differs from Go in three ways: Go escapes <, >, & and U+2028/9 (HTML safety),
  // writes \b and \f as \u0008 and \u000c, and has no lone surrogates (invalid UTF-8 becomes U+FFFD).
  return JSON.stringify(text.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD')).replace(/\\(?:[bf]|\\)|[<>&\u2028\u2029]/g, (m) => {
    if (m === '\\\\') return m;
    if (m === '\\b') return '\\u0008';
    if (m === '\\f') return '\\u000c';
    return `\\u${m.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
}

function writeJson(v: JsonValue, indent: string, out: string[]): void {
  if (v === null || typeof v !== 'object') {
    out.push(typeof v === 'string' ? goQuote(v) : JSON.stringify(v));
    return;
  }
  const inner = `${indent}\t`;
  if (Array.isArray(v)) {
    if (v.length === 0) {
      out.push('[]');
      return;
    }
    out.push('[\n');
    v.forEach((x, i) => {
      out.push(inner);
      writeJson(x, inner, out);
      out.push(i === v.length - 1 ? '\n' : ',\n');
    });
    out.push(`${indent}]`);
    return;
  }
  // Go sorts map keys by their bytes; code-unit order is the same for the names configs use.
  const keys = Object.keys(v).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (keys.length === 0) {
    out.push('{}');
    return;
  }
  out.push('{\n');
  keys.forEach((k, i) => {
    out.push(`${inner}${goQuote(k)}: `);
    writeJson(v[k]!, inner, out);
    out.push(i === keys.length - 1 ? '\n' : ',\n');
  });
  out.push(`${indent}}`);
}

/** The JSON text protolator prints for `tree` (keys sorted, tabs, trailing newline). */
export function formatJson(tree: JsonValue): string {
  const out: string[] = [];
  writeJson(tree, '', out);
  out.push('\n');
  return out.join('');
}
