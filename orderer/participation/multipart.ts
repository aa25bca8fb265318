// A small, strict multipart/form-data parser (RFC 7578 over RFC 2046 §5.1) for the join upload,
// over a body already read into memory (the server reads at most MaxRequestBodySize bytes, so
// the buffer is bounded). It understands what form clients (osnadmin, curl -F, browsers) send:
// an optional preamble, parts with CRLF-terminated headers, a close delimiter, an ignored
// epilogue. It refuses what it does not understand (folded headers, LF-only line ends, content
// transfer encodings other than identity) instead of guessing: the join API is for tools.

export class MultipartError extends Error {
  override readonly name: string = 'MultipartError';
}

export interface MediaType {
  /** Lower-cased, e.g. "multipart/form-data" or "form-data". */
  readonly type: string;
  /** Parameter names lower-cased; values unquoted. */
  readonly params: ReadonlyMap<string, string>;
}

export interface FormPart {
  /** The `name` of its Content-Disposition. */
  readonly name: string;
  /** Its `filename` (or `filename*`); a part with one is a file part, as Go's ReadForm has it. */
  readonly filename: string | undefined;
  readonly contentType: string | undefined;
  readonly data: Buffer;
}

/** RFC 2046: a boundary is 1 to 70 characters. */
const MAX_BOUNDARY_CHARS = 70;
/** The headers of one part; a form part needs two short lines. */
export const MAX_PART_HEADER_BYTES = 8 * 1024;
/** The join form has one part; more than this is not a form we could accept anyway. */
export const MAX_FORM_PARTS = 16;

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const CRLF = Buffer.from('\r\n');
const HEADER_END = Buffer.from('\r\n\r\n');

/**
 * Parses a Content-Type or Content-Disposition value: `type[/subtype] *(; name=value)`, values
 * tokens or quoted strings (RFC 7231 §3.1.1.1). Throws MultipartError on anything else, and on a
 * parameter given twice (as Go's mime.ParseMediaType does).
 */
export function parseMediaType(value: string): MediaType {
  let rest = value.trim();
  const semi = rest.indexOf(';');
  const type = (semi < 0 ? rest : rest.slice(0, semi)).trim().toLowerCase();
  const typeParts = type.split('/');
  if (typeParts.length > 2 || !typeParts.every((p) => TOKEN.test(p))) throw new MultipartError(`malformed media type ${JSON.stringify(value)}`);
  rest = semi < 0 ? '' : rest.slice(semi + 1);
  const params = new Map<string, string>();
  while (rest.trim() !== '') {
    const m = /^\s*([!#$%&'*+\-.^_`|~0-9A-Za-z]+)\s*=\s*/.exec(rest);
    if (m === null) throw new MultipartError(`malformed parameter in ${JSON.stringify(value)}`);
    const name = m[1]!.toLowerCase();
    rest = rest.slice(m[0].length);
    let paramValue: string;
    if (rest.startsWith('"')) {
      let i = 1;
      let out = '';
      for (; i < rest.length && rest[i] !== '"'; i++) {
        // quoted-pair: a backslash takes the next character literally.
        if (rest[i] === '\\' && i + 1 < rest.length) i++;
        out += rest[i];
      }
      if (i >= rest.length) throw new MultipartError(`unterminated quoted string in ${JSON.stringify(value)}`);
      paramValue = out;
      rest = rest.slice(i + 1);
    } else {
      const t = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+/.exec(rest);
      if (t === null) throw new MultipartError(`malformed value of parameter ${name} in ${JSON.stringify(value)}`);
      paramValue = t[0];
      rest = rest.slice(t[0].length);
    }
    if (params.has(name)) throw new MultipartError(`duplicate parameter ${name} in ${JSON.stringify(value)}`);
    params.set(name, paramValue);
    const next = /^\s*(;|$)/.exec(rest);
    if (next === null) throw new MultipartError(`malformed parameters in ${JSON.stringify(value)}`);
    rest = rest.slice(next[0].length);
  }
  return { type, params };
}

/** The boundary of a multipart/form-data Content-Type; throws MultipartError when it has none or a bad one. */
export function formBoundary(contentType: MediaType): string {
  const boundary = contentType.params.get('boundary');
  if (boundary === undefined || boundary === '') throw new MultipartError('no multipart boundary in Content-Type');
  // RFC 2046 §5.1.1: bchars, at most 70, not ending in a space.
  if (boundary.length > MAX_BOUNDARY_CHARS || !/^[0-9A-Za-z'()+_,\-./:=? ]*[0-9A-Za-z'()+_,\-./:=?]$/.test(boundary)) {
    throw new MultipartError(`invalid multipart boundary ${JSON.stringify(boundary)}`);
  }
  return boundary;
}

interface PartHeaders {
  readonly disposition: string | undefined;
  readonly contentType: string | undefined;
  readonly transferEncoding: string | undefined;
}

function parsePartHeaders(block: string): PartHeaders {
  const seen = new Map<string, string>();
  for (const line of block === '' ? [] : block.split('\r\n')) {
    // Folded (obsolete) header lines and bare LFs are refused rather than half understood.
    if (/^[ \t]/.test(line) || line.includes('\n') || line.includes('\r')) throw new MultipartError('malformed part header line');
    const colon = line.indexOf(':');
    if (colon <= 0 || !TOKEN.test(line.slice(0, colon))) throw new MultipartError(`malformed part header line ${JSON.stringify(line.slice(0, 80))}`);
    const name = line.slice(0, colon).toLowerCase();
    if (seen.has(name)) throw new MultipartError(`part header ${name} given twice`);
    seen.set(name, line.slice(colon + 1).trim());
  }
  return {
    disposition: seen.get('content-disposition'),
    contentType: seen.get('content-type'),
    transferEncoding: seen.get('content-transfer-encoding'),
  };
}

function toFormPart(headers: PartHeaders, data: Buffer): FormPart {
  if (headers.disposition === undefined) throw new MultipartError('a part has no Content-Disposition header');
  const disposition = parseMediaType(headers.disposition);
  if (disposition.type !== 'form-data') throw new MultipartError(`a part's Content-Disposition is ${disposition.type}, not form-data`);
  const name = disposition.params.get('name');
  if (name === undefined || name === '') throw new MultipartError('a part has no name');
  const encoding = headers.transferEncoding?.toLowerCase();
  // RFC 7578 §4.7: senders do not encode; identity is the only one we take.
  if (encoding !== undefined && encoding !== 'binary' && encoding !== '8bit' && encoding !== '7bit') {
    throw new MultipartError(`part ${name} has Content-Transfer-Encoding ${encoding}, only binary is supported`);
  }
  return { name, filename: disposition.params.get('filename') ?? disposition.params.get('filename*'), contentType: headers.contentType, data };
}

/**
 * Where the delimiter `\r\n--boundary` next starts at or after `from`, counting only matches
 * followed by `--` (the close delimiter) or by optional padding and CRLF (RFC 2046: the boundary
 * is a whole line); -1 when there is none.
 */
function nextDelimiter(body: Buffer, delimiter: Buffer, from: number): number {
  for (let i = body.indexOf(delimiter, from); i >= 0; i = body.indexOf(delimiter, i + 1)) {
    if (isBoundaryLineEnd(body, i + delimiter.length)) return i;
  }
  return -1;
}

function isBoundaryLineEnd(body: Buffer, at: number): boolean {
  if (body[at] === 0x2d && body[at + 1] === 0x2d) return true;
  let i = at;
  while (body[i] === 0x20 || body[i] === 0x09) i++;
  return body[i] === 0x0d && body[i + 1] === 0x0a;
}

/** The parts of a multipart/form-data body. Throws MultipartError on anything malformed. */
export function parseMultipartForm(body: Buffer, boundary: string): FormPart[] {
  const dashBoundary = Buffer.from(`--${boundary}`);
  const delimiter = Buffer.concat([CRLF, dashBoundary]);
  // The first boundary may open the body (no preamble) or follow a preamble and CRLF.
  let pos: number;
  if (body.subarray(0, dashBoundary.length).equals(dashBoundary) && isBoundaryLineEnd(body, dashBoundary.length)) {
    pos = dashBoundary.length;
  } else {
    const first = nextDelimiter(body, delimiter, 0);
    if (first < 0) throw new MultipartError('the body holds no multipart boundary');
    pos = first + delimiter.length;
  }
  const parts: FormPart[] = [];
  for (;;) {
    if (body[pos] === 0x2d && body[pos + 1] === 0x2d) return parts; // close delimiter; the epilogue is ignored
    while (body[pos] === 0x20 || body[pos] === 0x09) pos++;
    pos += CRLF.length; // isBoundaryLineEnd made sure the CRLF is there
    if (parts.length === MAX_FORM_PARTS) throw new MultipartError(`more than ${MAX_FORM_PARTS} parts`);
    let headerBlock: string;
    let contentStart: number;
    if (body[pos] === 0x0d && body[pos + 1] === 0x0a) {
      headerBlock = '';
      contentStart = pos + CRLF.length;
    } else {
      const end = body.indexOf(HEADER_END, pos);
      if (end < 0 || end - pos > MAX_PART_HEADER_BYTES) throw new MultipartError('part headers are unterminated or longer than 8 KiB');
      headerBlock = body.toString('latin1', pos, end);
      contentStart = end + HEADER_END.length;
    }
    const contentEnd = nextDelimiter(body, delimiter, contentStart);
    if (contentEnd < 0) throw new MultipartError('the body ends inside a part (no closing boundary)');
    parts.push(toFormPart(parsePartHeaders(headerBlock), body.subarray(contentStart, contentEnd)));
    pos = contentEnd + delimiter.length;
  }
}
