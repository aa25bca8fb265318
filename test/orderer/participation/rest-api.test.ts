// The channel participation REST API over real HTTP on 127.0.0.1 (reference §6.2): every row of
// the table, Accept and channel ID rules, the join upload's rules (exactly one file part named
// config-block, MaxRequestBodySize, a decodable config block of an application channel), the
// node's typed refusals turned into statuses and Allow headers, and the disabled API.
import { Writable } from 'node:stream';
import pino from 'pino';
import { common } from '../../../protos';
import {
  AdminServer,
  ChannelPendingRemovalError,
  ChannelRemovalFailedError,
  InvalidJoinBlockError,
  ParticipationError,
} from '../../../orderer/participation';
import { FakeParticipation, joinBlock, joinBlockWithGroups } from '../../support/fake-participation';
import { httpRequest, multipartBody, type HttpAnswer } from '../../support/http-request';

const MAX_BODY_BYTES = 64 * 1024;
let fake: FakeParticipation;
let server: AdminServer;
let base: string;
let logLines: string[];

async function startServer(enabled = true): Promise<void> {
  fake = new FakeParticipation();
  logLines = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logLines.push(...chunk.toString('utf8').split('\n').filter((l) => l !== ''));
      done();
    },
  });
  server = new AdminServer({
    host: '127.0.0.1',
    port: 0,
    tls: undefined,
    participation: fake,
    participationEnabled: enabled,
    maxRequestBodySizeBytes: MAX_BODY_BYTES,
    logger: pino({ level: 'debug' }, sink),
  });
  await server.start();
  base = `http://127.0.0.1:${server.port}`;
}

beforeEach(() => startServer());
afterEach(() => server.stop());

function join(block: Uint8Array | string, extra: { headers?: Record<string, string> } = {}): Promise<HttpAnswer> {
  const { body, contentType } = multipartBody([{ name: 'config-block', filename: 'config.block', data: block }]);
  return httpRequest(`${base}/participation/v1/channels`, { method: 'POST', body, headers: { 'Content-Type': contentType, ...(extra.headers ?? {}) } });
}

const blockBytes = (channelId: string): Uint8Array => common.Block.encode(joinBlock(channelId));

describe('GET /participation/v1/channels', () => {
  test('200 with an empty list: systemChannel null, channels null, Cache-Control no-store, Go-encoded JSON', async () => {
    const r = await httpRequest(`${base}/participation/v1/channels`);
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/json');
    expect(r.headers['cache-control']).toBe('no-store');
    expect(r.body.toString()).toBe('{"systemChannel":null,"channels":null}\n');
  });

  test('200 listing the channels by name with their urls', async () => {
    fake.channels.set('zeta', { name: 'zeta', consensusRelation: 'consenter', status: 'active', height: 3 });
    fake.channels.set('alpha', { name: 'alpha', consensusRelation: 'follower', status: 'onboarding', height: 0 });
    const r = await httpRequest(`${base}/participation/v1/channels`, { headers: { Accept: 'application/json' } });
    expect(r.status).toBe(200);
    expect(r.json).toEqual({
      systemChannel: null,
      channels: [
        { name: 'alpha', url: '/participation/v1/channels/alpha' },
        { name: 'zeta', url: '/participation/v1/channels/zeta' },
      ],
    });
  });

  test.each(['text/html, application/*;q=0.9', '*/*', 'application/json; charset=utf-8'])('Accept %s is acceptable', async (accept) => {
    expect((await httpRequest(`${base}/participation/v1/channels`, { headers: { Accept: accept } })).status).toBe(200);
  });

  test('406 for an Accept without JSON', async () => {
    const r = await httpRequest(`${base}/participation/v1/channels`, { headers: { Accept: 'text/html' } });
    expect(r.status).toBe(406);
    expect(r.json).toEqual({ error: 'response Content-Type is application/json only' });
  });

  test.each(['PUT', 'PATCH', 'DELETE'])('%s: 405 with Allow GET, POST', async (method) => {
    const r = await httpRequest(`${base}/participation/v1/channels`, { method });
    expect(r.status).toBe(405);
    expect(r.headers.allow).toBe('GET, POST');
    expect(r.json).toEqual({ error: `invalid request method: ${method}` });
  });
});

describe('GET /participation/v1/', () => {
  test('302 to /participation/v1/channels', async () => {
    const r = await httpRequest(`${base}/participation/v1/`);
    expect(r.status).toBe(302);
    expect(r.headers.location).toBe('/participation/v1/channels');
  });

  test('/participation/v1 without the slash: 301 to /participation/v1/; other paths 404', async () => {
    const r = await httpRequest(`${base}/participation/v1`);
    expect(r.status).toBe(301);
    expect(r.headers.location).toBe('/participation/v1/');
    for (const p of ['/', '/healthz', '/participation/v2/channels', '/participation/v1/channels/', '/participation/v1/channels/a/b', '/participation/v1/other']) {
      const nf = await httpRequest(`${base}${p}`);
      expect([p, nf.status, nf.body.toString()]).toEqual([p, 404, '404 page not found\n']);
    }
  });
});

describe('POST /participation/v1/channels (join)', () => {
  test('201 with the ChannelInfo and Location; the node got the decoded block', async () => {
    const r = await join(blockBytes('mychannel'));
    expect(r.status).toBe(201);
    expect(r.headers.location).toBe('/participation/v1/channels/mychannel');
    expect(r.headers['content-type']).toBe('application/json');
    expect(r.body.toString()).toBe('{"name":"mychannel","url":"/participation/v1/channels/mychannel","consensusRelation":"consenter","status":"active","height":1}\n');
    expect(fake.joinCalls).toHaveLength(1);
    expect(fake.joinCalls[0]!.header?.number).toBe(0);
  });

  test('the uploaded bytes reach the node unchanged', async () => {
    const bytes = blockBytes('exact');
    await join(bytes);
    expect(Buffer.from(common.Block.encode(fake.joinCalls[0]!))).toEqual(Buffer.from(bytes));
  });

  test('joining a channel the node has: 405 with Allow GET, DELETE', async () => {
    await join(blockBytes('mychannel'));
    const r = await join(blockBytes('mychannel'));
    expect(r.status).toBe(405);
    expect(r.headers.allow).toBe('GET, DELETE');
    expect(r.json).toEqual({ error: 'cannot join: channel already exists' });
  });

  test.each([
    ['pending removal', new ChannelPendingRemovalError('c'), 409, 'cannot join: channel pending removal'],
    ['removal failed', new ChannelRemovalFailedError('c'), 500, 'cannot join: channel removal failure'],
    ['refused block', new InvalidJoinBlockError('not a consenter and no endpoints to pull from'), 400, 'cannot join: not a consenter and no endpoints to pull from'],
    ['forbidden', new ParticipationError(403, 'application channels already exist'), 403, 'cannot join: application channels already exist'],
    ['unclassified error', new Error('disk on fire'), 400, 'cannot join: disk on fire'],
  ])('the node refuses (%s): its status', async (_what, err, status, message) => {
    fake.joinError = err;
    const r = await join(blockBytes('mychannel'));
    expect(r.status).toBe(status);
    expect(r.json).toEqual({ error: message });
  });

  test('an unclassified join error is logged at error level', async () => {
    fake.joinError = new Error('disk on fire');
    await join(blockBytes('mychannel'));
    const errors = logLines.map((l) => JSON.parse(l) as { level: number; msg: string }).filter((l) => l.level >= 50);
    expect(errors.map((e) => e.msg)).toContain('join failed with an unclassified error');
  });

  test('406 for a bad Accept, before the body is looked at', async () => {
    const r = await join(blockBytes('mychannel'), { headers: { Accept: 'text/plain' } });
    expect(r.status).toBe(406);
    expect(fake.joinCalls).toHaveLength(0);
  });

  test('another Content-Type: 400', async () => {
    const r = await httpRequest(`${base}/participation/v1/channels`, { method: 'POST', body: Buffer.from(blockBytes('c')), headers: { 'Content-Type': 'application/octet-stream' } });
    expect(r.status).toBe(400);
    expect(r.json).toEqual({ error: 'unsupported Content-Type: [application/octet-stream]' });
    const none = await httpRequest(`${base}/participation/v1/channels`, { method: 'POST', body: 'x' });
    expect(none.status).toBe(400);
    expect(fake.joinCalls).toHaveLength(0);
  });

  test('multipart without a boundary: 400', async () => {
    const r = await httpRequest(`${base}/participation/v1/channels`, { method: 'POST', body: 'x', headers: { 'Content-Type': 'multipart/form-data' } });
    expect(r.status).toBe(400);
    expect((r.json as { error: string }).error).toMatch(/^cannot parse Mime media type: no multipart boundary/);
  });

  test('garbage uploaded: 400 and the node is never asked', async () => {
    for (const garbage of [Buffer.from('this is not a block at all \xff\xfe'), Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]), Buffer.alloc(0)]) {
      const r = await join(garbage);
      expect(r.status).toBe(400);
      expect((r.json as { error: string }).error).toMatch(/cannot unmarshal file part config-block into a block|invalid join block/);
    }
    expect(fake.joinCalls).toHaveLength(0);
  });

  test('a block that is not a config block: 400', async () => {
    const block: common.BlockInit = { header: { number: 5 }, data: { data: [common.Envelope.encode({ payload: common.Payload.encode({ header: { channelHeader: common.ChannelHeader.encode({ type: common.HeaderType.ENDORSER_TRANSACTION, channelId: 'c' }) } }) })] }, metadata: { metadata: [] } };
    const r = await join(common.Block.encode(block));
    expect(r.status).toBe(400);
    expect((r.json as { error: string }).error).toMatch(/^invalid join block: .*expected CONFIG/);
    expect(fake.joinCalls).toHaveLength(0);
  });

  test('a config without an Application group: 400; a system channel config (Consortiums): 400', async () => {
    const noApp = await join(common.Block.encode(joinBlockWithGroups('c', (g) => delete g.Application)));
    expect(noApp.status).toBe(400);
    expect((noApp.json as { error: string }).error).toContain('must have at least one of application or consortiums');
    const system = await join(common.Block.encode(joinBlockWithGroups('c', (g) => {
      delete g.Application;
      g.Consortiums = { modPolicy: 'Admins' };
    })));
    expect(system.status).toBe(400);
    expect((system.json as { error: string }).error).toContain('system channel');
    expect(fake.joinCalls).toHaveLength(0);
  });

  test('a config block of a channel whose ID is not valid: 400', async () => {
    const r = await join(common.Block.encode(joinBlock('good', 'Bad_Channel')));
    expect(r.status).toBe(400);
    expect((r.json as { error: string }).error).toContain('bad channel ID');
    expect(fake.joinCalls).toHaveLength(0);
  });

  test('two parts, a value part, a wrong part name, no parts: 400 with Fabric\'s messages', async () => {
    const block = blockBytes('mychannel');
    const cases: Array<[Parameters<typeof multipartBody>[0], string]> = [
      [[{ name: 'config-block', filename: 'config.block', data: block }, { name: 'other', filename: 'x', data: 'x' }], 'form contains too many parts'],
      [[{ name: 'config-block', filename: 'config.block', data: block }, { name: 'config-block', filename: 'again.block', data: block }], 'form contains too many parts'],
      [[{ name: 'config-block', filename: 'config.block', data: block }, { name: 'note', data: 'a value' }], 'form contains too many parts'],
      [[{ name: 'block', filename: 'config.block', data: block }], 'form does not contains part key: config-block'],
      [[{ name: 'config-block', data: block }], 'form does not contains part key: config-block'],
      [[], 'form does not contains part key: config-block'],
    ];
    for (const [parts, error] of cases) {
      const { body, contentType } = multipartBody(parts);
      const r = await httpRequest(`${base}/participation/v1/channels`, { method: 'POST', body, headers: { 'Content-Type': contentType } });
      expect([r.status, r.json]).toEqual([400, { error }]);
    }
    expect(fake.joinCalls).toHaveLength(0);
  });

  test('a malformed multipart body: 400', async () => {
    const r = await httpRequest(`${base}/participation/v1/channels`, { method: 'POST', body: '--b\r\nContent-Disposition: form-data; name="config-block"; filename="x"\r\n\r\nno closing boundary', headers: { 'Content-Type': 'multipart/form-data; boundary=b' } });
    expect(r.status).toBe(400);
    expect((r.json as { error: string }).error).toMatch(/^cannot read form from request body: /);
  });

  test('a body over MaxRequestBodySize: 400 (as Fabric: the form cannot be read), connection closed, node not asked', async () => {
    const big = Buffer.alloc(MAX_BODY_BYTES + 1, 7);
    const r = await join(big);
    expect(r.status).toBe(400);
    expect(r.headers.connection).toBe('close');
    expect((r.json as { error: string }).error).toMatch(/^cannot read form from request body: request body too large/);
    expect(fake.joinCalls).toHaveLength(0);
  });

  test('a chunked body (no Content-Length) over the limit is cut off while streaming', async () => {
    const http = await import('node:http');
    const answer = await new Promise<{ status: number; error: string }>((resolve, reject) => {
      const req = http.request(`${base}/participation/v1/channels`, { method: 'POST', agent: false, headers: { 'Content-Type': 'multipart/form-data; boundary=b', 'Transfer-Encoding': 'chunked' } }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, error: (JSON.parse(text) as { error: string }).error }));
      });
      req.on('error', reject);
      const chunk = Buffer.alloc(16 * 1024, 1);
      // Four times the limit, in pieces; the server answers once it has seen more than the limit.
      for (let i = 0; i < 16; i++) req.write(chunk);
      req.end();
    });
    expect(answer.status).toBe(400);
    expect(answer.error).toMatch(/request body too large/);
  });
});

test('a client that goes away mid-upload is no error: no request logged above debug, the node not asked, the server still serves', async () => {
  const net = await import('node:net');
  await new Promise<void>((resolve, reject) => {
    const socket = net.connect(server.port, '127.0.0.1', () => {
      socket.write('POST /participation/v1/channels HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 1000\r\n\r\n--b\r\n');
      setTimeout(() => {
        socket.destroy();
        resolve();
      }, 50);
    });
    socket.on('error', reject);
  });
  await new Promise((resolve) => setTimeout(resolve, 50));
  expect((await httpRequest(`${base}/participation/v1/channels`)).status).toBe(200);
  // Request logs (they carry a reqId); the server's own startup warning about plaintext is not one.
  const loud = logLines.map((l) => JSON.parse(l) as { level: number; msg: string; reqId?: string }).filter((l) => l.level > 20 && l.reqId !== undefined);
  expect(loud).toEqual([]);
  expect(fake.joinCalls).toHaveLength(0);
});

describe('/participation/v1/channels/{id}', () => {
  beforeEach(() => {
    fake.channels.set('mychannel', { name: 'mychannel', consensusRelation: 'consenter', status: 'active', height: 7 });
  });

  test('GET: 200 ChannelInfo, Cache-Control no-store', async () => {
    const r = await httpRequest(`${base}/participation/v1/channels/mychannel`);
    expect(r.status).toBe(200);
    expect(r.headers['cache-control']).toBe('no-store');
    expect(r.json).toEqual({ name: 'mychannel', url: '/participation/v1/channels/mychannel', consensusRelation: 'consenter', status: 'active', height: 7 });
  });

  test('GET an unknown channel: 404, and the connection is kept (no body was left unread)', async () => {
    const r = await httpRequest(`${base}/participation/v1/channels/other`, { headers: { Connection: 'keep-alive' } });
    expect(r.status).toBe(404);
    expect(r.json).toEqual({ error: 'channel does not exist' });
    expect(r.headers.connection).toBe('keep-alive');
  });

  test.each([
    ['Upper', "invalid channel ID: 'Upper' contains illegal characters"],
    ['1abc', "invalid channel ID: '1abc' contains illegal characters"],
    ['a_b', "invalid channel ID: 'a_b' contains illegal characters"],
    ['a'.repeat(250), 'invalid channel ID: channel ID illegal, cannot be longer than 249'],
  ])('GET and DELETE with a bad channel ID %s: 400', async (id, error) => {
    for (const method of ['GET', 'DELETE']) {
      const r = await httpRequest(`${base}/participation/v1/channels/${id}`, { method });
      expect([method, r.status, r.json]).toEqual([method, 400, { error }]);
    }
    expect(fake.removeCalls).toHaveLength(0);
  });

  test('the longest valid channel ID (249 characters) is accepted', async () => {
    const r = await httpRequest(`${base}/participation/v1/channels/${'a'.repeat(249)}`);
    expect(r.status).toBe(404);
  });

  test('GET and DELETE with a bad Accept: 406, before the channel ID is checked', async () => {
    for (const method of ['GET', 'DELETE']) {
      const r = await httpRequest(`${base}/participation/v1/channels/BAD`, { method, headers: { Accept: 'text/html' } });
      expect(r.status).toBe(406);
    }
    expect(fake.removeCalls).toHaveLength(0);
  });

  test('DELETE: 204 with an empty body; then GET is 404 and DELETE is 404', async () => {
    const r = await httpRequest(`${base}/participation/v1/channels/mychannel`, { method: 'DELETE' });
    expect(r.status).toBe(204);
    expect(r.body.length).toBe(0);
    expect(fake.removeCalls).toEqual(['mychannel']);
    expect((await httpRequest(`${base}/participation/v1/channels/mychannel`)).status).toBe(404);
    const again = await httpRequest(`${base}/participation/v1/channels/mychannel`, { method: 'DELETE' });
    expect(again.status).toBe(404);
    expect(again.json).toEqual({ error: 'cannot remove: channel does not exist' });
  });

  test('DELETE while removal is pending: 409', async () => {
    fake.removeError = new ChannelPendingRemovalError('mychannel');
    const r = await httpRequest(`${base}/participation/v1/channels/mychannel`, { method: 'DELETE' });
    expect(r.status).toBe(409);
    expect(r.json).toEqual({ error: 'cannot remove: channel pending removal' });
  });

  test('DELETE when the node says only GET is allowed (Fabric: system channel exists): 405 with Allow GET', async () => {
    fake.removeError = new ParticipationError(405, 'system channel exists', ['GET']);
    const r = await httpRequest(`${base}/participation/v1/channels/mychannel`, { method: 'DELETE' });
    expect(r.status).toBe(405);
    expect(r.headers.allow).toBe('GET');
  });

  test('DELETE failing with an unclassified error: 400, as Fabric', async () => {
    fake.removeError = new Error('EACCES');
    const r = await httpRequest(`${base}/participation/v1/channels/mychannel`, { method: 'DELETE' });
    expect([r.status, r.json]).toEqual([400, { error: 'cannot remove: EACCES' }]);
  });

  test.each(['POST', 'PUT', 'PATCH'])('%s: 405 with Allow GET, DELETE', async (method) => {
    const r = await httpRequest(`${base}/participation/v1/channels/mychannel`, { method });
    expect(r.status).toBe(405);
    expect(r.headers.allow).toBe('GET, DELETE');
    expect(r.json).toEqual({ error: `invalid request method: ${method}` });
  });
});

describe('ChannelParticipation.Enabled: false', () => {
  beforeEach(async () => {
    await server.stop();
    await startServer(false);
  });

  test('every request under /participation/v1/ is 503; the node is never asked', async () => {
    fake.channels.set('mychannel', { name: 'mychannel', consensusRelation: 'consenter', status: 'active', height: 1 });
    const answers = [
      await httpRequest(`${base}/participation/v1/`),
      await httpRequest(`${base}/participation/v1/channels`),
      await httpRequest(`${base}/participation/v1/channels/mychannel`),
      await httpRequest(`${base}/participation/v1/channels/mychannel`, { method: 'DELETE' }),
      await join(blockBytes('c')),
    ];
    for (const r of answers) {
      expect(r.status).toBe(503);
      expect(r.body.toString()).toBe('{"error":"channel participation API is disabled"}\n');
    }
    expect(fake.joinCalls).toHaveLength(0);
    expect(fake.removeCalls).toHaveLength(0);
  });
});

test('ParticipationError refuses non-error statuses and a 405 without Allow', () => {
  expect(() => new ParticipationError(200, 'ok')).toThrow(RangeError);
  expect(() => new ParticipationError(405, 'no')).toThrow(RangeError);
});
