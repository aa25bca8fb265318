// `client broadcast|deliver` against a real 3-node network whose channel admits only its
// organisations' members (the devnet's enforced policies): signed with the network's User1 (from
// the MSP folder or from the certificate and key files) the CLI is served; unsigned it is
// refused with FORBIDDEN. Needs `npm run build` first.
import { buildEnvelope } from '../../orderer/envelopes';
import { envelopeSignerOf } from '../../orderer/msp/signers';
import { loadLocalSigningIdentity } from '../../orderer/msp/local-msp';
import { common } from '../../protos';
import { broadcastOne, createNetwork, waitFor, type TestNetwork } from './harness';
import { CLIENT_JS as CLIENT, runClient } from '../support/run-client';

jest.setTimeout(120_000);

const CHANNEL = 'mychannel';
let net: TestNetwork;
let address: string;


beforeAll(async () => {
  net = await createNetwork({ openAccess: false });
  const c = net.layout.crypto;
  const user1 = envelopeSignerOf(loadLocalSigningIdentity(c.clientMspDir, c.clientMspId));
  address = net.nodes[0]!.address;
  net.startAll();
  await waitFor('a leader that orders a signed envelope', 60_000, async () => {
    const res = await broadcastOne(address, buildEnvelope({ channelId: CHANNEL, signer: user1, data: Uint8Array.of(1) }).bytes);
    return res.status === common.Status.SUCCESS ? true : undefined;
  }, 300);
});

afterAll(async () => {
  await net?.destroy();
});

test('signed broadcast and deliver are served (MSP folder or cert/key files); unsigned ones are FORBIDDEN', async () => {
  const c = net.layout.crypto;
  const byFolder = ['--mspid', c.clientMspId, '--msp-dir', c.clientMspDir];
  const byFiles = ['--mspid', c.clientMspId, '--cert', c.clientCertPath, '--key', c.clientKeyPath];
  const other = net.nodes[1]!.address;

  const folder = await runClient(['broadcast', '--orderer', address, '--orderer', other, '--channel', CHANNEL, '-n', '200', '--size', '100', '-c', '2', ...byFolder]);
  expect(folder.stderr).toMatch(/signed as Org1MSP/);
  expect(folder.stdout).toMatch(/^SUCCESS\s+200$/m);
  expect(folder.code).toBe(0);
  const files = await runClient(['broadcast', '--orderer', other, '--channel', CHANNEL, '-n', '20', ...byFiles]);
  expect(files.stdout).toMatch(/^SUCCESS\s+20$/m);
  expect(files.code).toBe(0);

  const unsigned = await runClient(['broadcast', '--orderer', address, '--channel', CHANNEL, '-n', '3', '--window', '1']);
  expect(unsigned.code).toBe(1);
  expect(unsigned.stdout).toMatch(/^FORBIDDEN\s+/m);

  const deliver = await runClient(['deliver', '--orderer', other, '--channel', CHANNEL, '--start', '0', '--stop', '0', ...byFiles]);
  expect(deliver.code).toBe(0);
  expect(deliver.stdout).toMatch(/^block 0 /);
  const unsignedDeliver = await runClient(['deliver', '--orderer', other, '--channel', CHANNEL, '--start', '0', '--stop', '0']);
  expect(unsignedDeliver.code).toBe(1);
  expect(unsignedDeliver.stderr).toMatch(/FORBIDDEN/);
});
