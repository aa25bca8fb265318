// Blocks pulled from other orderers (catch-up, reference §2.7) are written only when an orderer
// of the channel signed them: PulledBlockVerifier checks each block against BlockValidation of
// the config in force before it, and a verified config block brings its own config into force.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { genesisBlock, newBlock } from '../../../ledger/block';
import { writeCommitMetadata } from '../../../ledger/metadata';
import { buildGenesisConfigEnvelope, type ChannelConfigSpec } from '../../../orderer/channelconfig';
import { loadLocalSigningIdentity } from '../../../orderer/msp/local-msp';
import { mspManagerFromConfig } from '../../../orderer/msp/manager';
import { metadataSignerOf } from '../../../orderer/msp/signers';
import type { SigningIdentity } from '../../../orderer/msp/types';
import { BlockSignatureError, PulledBlockVerifier } from '../../../orderer/policies/block-signatures';
import { ConfigChannelPolicies } from '../../../orderer/policies/channel-policies';
import { common } from '../../../protos';
import { writeTestMsps, type TestMsps } from '../../support/test-msps';

const CHANNEL = 'mychannel';
let dir: string;
let before: TestMsps;
let after: TestMsps;

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'pulled-blocks-'));
  before = writeTestMsps(path.join(dir, 'before'), 1);
  after = writeTestMsps(path.join(dir, 'after'), 1);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function spec(msps: TestMsps): ChannelConfigSpec {
  return { channelId: CHANNEL, consenters: [{ host: '127.0.0.1', port: 7050 }], ordererOrgs: [msps.ordererOrg(['127.0.0.1:7050'])], applicationOrgs: [msps.clientOrg] };
}

function verifierFor(msps: TestMsps): PulledBlockVerifier {
  const config = common.Config.decode(common.Config.encode(buildGenesisConfigEnvelope(spec(msps)).config!));
  return new PulledBlockVerifier(CHANNEL, ConfigChannelPolicies.fromConfig(CHANNEL, config, mspManagerFromConfig(config)));
}

function signed(block: common.Block, signer: SigningIdentity | undefined): common.Block {
  writeCommitMetadata(block, { lastConfigIndex: 0, ...(signer !== undefined ? { signer: metadataSignerOf(signer) } : {}) });
  return block;
}

const orderer = (msps: TestMsps): SigningIdentity => loadLocalSigningIdentity(msps.ordererMspDirs[0]!, 'OrdererMSP');
const client = (msps: TestMsps): SigningIdentity => loadLocalSigningIdentity(msps.clientMspDir, 'Org1MSP');
const normalBlock = (n: number): common.Block => newBlock(n, new Uint8Array(32), [Uint8Array.of(n)]);

test('a block signed by an orderer of the channel passes; unsigned, client-signed or foreign-orderer blocks are refused', () => {
  const verifier = verifierFor(before);
  expect(() => verifier.verify(signed(normalBlock(1), orderer(before)))).not.toThrow();
  expect(() => verifier.verify(signed(normalBlock(2), undefined))).toThrow(BlockSignatureError);
  expect(() => verifier.verify(signed(normalBlock(2), client(before)))).toThrow(/BlockValidation|Writers/);
  expect(() => verifier.verify(signed(normalBlock(2), orderer(after)))).toThrow(BlockSignatureError);
});

test('a config block is checked against the config before it, then its own config is in force', () => {
  const verifier = verifierFor(before);
  const configBlock = genesisBlock({ channelId: CHANNEL, configEnvelope: buildGenesisConfigEnvelope(spec(after)) });
  configBlock.header!.number = 1;
  // Signed by an orderer of the new config only: the old config does not know it.
  expect(() => verifier.verify(signed(common.Block.decode(common.Block.encode(configBlock)), orderer(after)))).toThrow(BlockSignatureError);
  verifier.verify(signed(configBlock, orderer(before)));
  expect(() => verifier.verify(signed(normalBlock(2), orderer(before)))).toThrow(BlockSignatureError);
  expect(() => verifier.verify(signed(normalBlock(2), orderer(after)))).not.toThrow();
});
