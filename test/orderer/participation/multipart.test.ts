// The strict multipart/form-data parser of the join upload: what form clients send is read, what
// it does not understand is refused with a MultipartError (answered 400 by the server).
import { formBoundary, MultipartError, parseMediaType, parseMultipartForm } from '../../../orderer/participation/multipart';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

describe('parseMediaType / formBoundary', () => {
  test('type lower-cased, parameters as tokens or quoted strings', () => {
    const m = parseMediaType('Multipart/Form-Data; boundary="a b\\"c"; Charset=utf-8');
    expect(m.type).toBe('multipart/form-data');
    expect(m.params.get('boundary')).toBe('a b"c');
    expect(m.params.get('charset')).toBe('utf-8');
  });

  test.each(['multipart/form-data; boundary', 'multipart/form-data; boundary="x', 'multipart/form-data; a=1; a=2', 'a/b/c', 'multipart/form-data; boundary=x y'])('malformed: %s', (v) => {
    expect(() => parseMediaType(v)).toThrow(MultipartError);
  });

  test('a boundary is required, 1-70 characters, not ending in a space', () => {
    expect(formBoundary(parseMediaType('multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxk'))).toBe('----WebKitFormBoundary7MA4YWxk');
    expect(() => formBoundary(parseMediaType('multipart/form-data'))).toThrow('no multipart boundary');
    expect(() => formBoundary(parseMediaType(`multipart/form-data; boundary=${'x'.repeat(71)}`))).toThrow('invalid multipart boundary');
    expect(() => formBoundary(parseMediaType('multipart/form-data; boundary="x "'))).toThrow('invalid multipart boundary');
  });
});

describe('parseMultipartForm', () => {
  test('a file part with binary content, a preamble, padding after a boundary and an epilogue', () => {
    const content = '\r\n--notit\r\n\x00\xff--B is not a boundary here';
    const body = b(`preamble\r\n--B  \r\nContent-Disposition: form-data; name="config-block"; filename="config.block"\r\nContent-Type: application/octet-stream\r\n\r\n${content}\r\n--B--\r\nepilogue`);
    const parts = parseMultipartForm(body, 'B');
    expect(parts).toHaveLength(1);
    expect(parts[0]!.name).toBe('config-block');
    expect(parts[0]!.filename).toBe('config.block');
    expect(parts[0]!.contentType).toBe('application/octet-stream');
    expect(parts[0]!.data).toEqual(b(content));
  });

  test('several parts; a value part has no filename; empty content', () => {
    const body = b('--B\r\nContent-Disposition: form-data; name="a"\r\n\r\n\r\n--B\r\nContent-Disposition: form-data; name="f"; filename="x"\r\n\r\nxyz\r\n--B--');
    const parts = parseMultipartForm(body, 'B');
    expect(parts.map((p) => [p.name, p.filename, p.data.toString()])).toEqual([
      ['a', undefined, ''],
      ['f', 'x', 'xyz'],
    ]);
  });

  test.each([
    ['no boundary at all', 'hello'],
    ['no closing boundary', '--B\r\nContent-Disposition: form-data; name="a"\r\n\r\nabc'],
    ['LF-only line ends', '--B\nContent-Disposition: form-data; name="a"\n\nabc\n--B--'],
    ['no Content-Disposition', '--B\r\nContent-Type: text/plain\r\n\r\nabc\r\n--B--'],
    ['not form-data', '--B\r\nContent-Disposition: attachment; name="a"\r\n\r\nabc\r\n--B--'],
    ['no name', '--B\r\nContent-Disposition: form-data; filename="a"\r\n\r\nabc\r\n--B--'],
    ['a folded header', '--B\r\nContent-Disposition: form-data;\r\n name="a"\r\n\r\nabc\r\n--B--'],
    ['a header given twice', '--B\r\nContent-Disposition: form-data; name="a"\r\nContent-Disposition: form-data; name="b"\r\n\r\nabc\r\n--B--'],
    ['base64 transfer encoding', '--B\r\nContent-Disposition: form-data; name="a"; filename="x"\r\nContent-Transfer-Encoding: base64\r\n\r\nYWJj\r\n--B--'],
    ['unterminated headers', '--B\r\nContent-Disposition: form-data; name="a"'],
  ])('refused: %s', (_what, text) => {
    expect(() => parseMultipartForm(b(text), 'B')).toThrow(MultipartError);
  });

  test('more than 16 parts is refused', () => {
    const part = '--B\r\nContent-Disposition: form-data; name="a"\r\n\r\nx\r\n';
    expect(() => parseMultipartForm(b(`${part.repeat(17)}--B--`), 'B')).toThrow('more than 16 parts');
    expect(parseMultipartForm(b(`${part.repeat(16)}--B--`), 'B')).toHaveLength(16);
  });
});
