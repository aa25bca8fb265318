// The Operations server of a real orderer process (reference §6.4), as an operator uses it:
// /healthz and /version answer, and PUT /logspec turns on debug lines of the chain logger alone
// in the running node's log, without a restart.
import { httpRequest } from '../support/http-request';
import { broadcastOne, createNetwork, duplicateLogKeys, freePorts, makeEnvelope, waitFor, waitForService, type TestNetwork } from './harness';

jest.setTimeout(60_000);

let network: TestNetwork | undefined;
afterAll(async () => {
  await network?.destroy();
});

interface LogLine {
  level?: number;
  logger?: string;
  msg?: string;
}

function logLines(text: string): LogLine[] {
  const lines: LogLine[] = [];
  for (const l of text.split('\n')) {
    if (!l.startsWith('{')) continue;
    try {
      lines.push(JSON.parse(l) as LogLine);
    } catch {
      // a line being written
    }
  }
  return lines;
}

test('/healthz, /version and PUT /logspec on a running orderer', async () => {
  const [operationsPort] = await freePorts(1);
  network = await createNetwork({ nodeCount: 1, operationsPorts: [operationsPort!] });
  const node = network.nodes[0]!;
  node.start();
  try {
    await waitForService(node.address, 'mychannel');
  } catch (err) {
    // Once in CI the node never took a connection: say what its log says.
    throw new Error(`${err instanceof Error ? err.message : String(err)}; the node's log ends:\n${node.logText().slice(-3000)}`, { cause: err });
  }
  const base = `http://127.0.0.1:${operationsPort}`;
  await waitFor('the operations server', 10_000, () => (node.logText().includes('"msg":"operations server listening"') ? true : undefined));

  const health = await httpRequest(`${base}/healthz`);
  expect(health.status).toBe(200);
  expect((health.json as { status: string }).status).toBe('OK');

  const version = await httpRequest(`${base}/version`);
  expect(version.status).toBe(200);
  expect(version.json).toEqual({ CommitSHA: 'development build', Version: expect.stringMatching(/^\d+\.\d+\.\d+/) });

  expect((await httpRequest(`${base}/logspec`)).json).toEqual({ spec: 'info' });
  expect(logLines(node.logText()).filter((l) => l.level === 20)).toEqual([]);

  const put = await httpRequest(`${base}/logspec`, { method: 'PUT', body: JSON.stringify({ spec: 'info:orderer.chain=debug' }) });
  expect(put.status).toBe(204);
  expect((await httpRequest(`${base}/logspec`)).json).toEqual({ spec: 'info:orderer.chain=debug' });

  // An envelope makes the leader propose a block: a debug line of the chain logger.
  const response = await broadcastOne(node.address, makeEnvelope('mychannel', 100).bytes);
  expect(response.status).toBe(200);
  const debugLine = await waitFor('a debug line of the chain logger', 15_000, () =>
    logLines(node.logText()).find((l) => l.level === 20 && l.logger === 'orderer.chain'),
  );
  expect(debugLine.msg).toBeDefined();
  // Only the chain logger was turned up.
  const debugLoggers = new Set(logLines(node.logText()).filter((l) => l.level === 20).map((l) => l.logger));
  expect([...debugLoggers]).toEqual(['orderer.chain']);
  expect(duplicateLogKeys(node.logText())).toEqual([]);

  await node.stop();
  expect(node.lastExit).toEqual({ code: 0, signal: null });
  await expect(httpRequest(`${base}/healthz`)).rejects.toThrow();
});
