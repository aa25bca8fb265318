// End to end: the policies of a config made by buildChannelConfig (shaped like configtxgen's),
// evaluated through the per-channel seam as Broadcast, Deliver, block verification and config
// updates will use it.
import { common } from '../../../protos';
import { buildChannelConfig } from '../../../orderer/channelconfig';
import { OrdererError } from '../../../orderer/errors';
import { checkPolicy, CHANNEL_WRITERS_POLICY, ORDERER_WRITERS_POLICY } from '../../../orderer/msgcheck';
import { blockHeaderBytes, newBlock } from '../../../ledger/block';
import {
  BLOCK_VALIDATION_POLICY,
  BlockSignatureError,
  blockSignedData,
  ChannelPolicyEvaluator,
  ConfigChannelPolicies,
  configUpdateSignedData,
  PolicyConfigError,
  verifyBlockSignatures,
  type ChannelPolicies,
  type PolicyResult,
} from '../../../orderer/policies';
import { FakeDeserializer, FakeSigner } from './fake-msp';

const spec = {
  channelId: 'mychannel',
  consenters: [1, 2, 3].map((i) => ({ host: `orderer${i}.example.com`, port: 7050 })),
  ordererOrgs: [{ mspId: 'OrdererMSP', endpoints: ['orderer1.example.com:7050'] }],
  applicationOrgs: [{ mspId: 'Org1MSP' }, { mspId: 'Org2MSP' }],
};

function channelConfig(): common.Config {
  return common.Config.decode(common.Config.encode(buildChannelConfig(spec)));
}

const msps = new FakeDeserializer(['OrdererMSP', 'Org1MSP', 'Org2MSP']);
const policies = ConfigChannelPolicies.fromConfig('mychannel', channelConfig(), msps);

const orderer1 = new FakeSigner('OrdererMSP', 'orderer1', ['orderer']);
const ordererAdmin = new FakeSigner('OrdererMSP', 'orderer-admin', ['admin']);
const org1Client = new FakeSigner('Org1MSP', 'org1-client', ['client']);
const org1Admin = new FakeSigner('Org1MSP', 'org1-admin', ['admin']);
const org2Peer = new FakeSigner('Org2MSP', 'org2-peer', ['peer']);
const org2Admin = new FakeSigner('Org2MSP', 'org2-admin', ['admin']);
const stranger = new FakeSigner('StrangerMSP', 'stranger');

function reason(result: PolicyResult): string {
  expect(result.satisfied).toBe(false);
  return result.satisfied ? '' : result.reason;
}

describe('a configtxgen-shaped channel config, evaluated end to end', () => {
  test('the snapshot knows its channel and config sequence', () => {
    expect(policies.channelId).toBe('mychannel');
    expect(policies.configSequence).toBe(0);
  });

  test('/Channel/Writers (Broadcast): any member of an application or orderer org', () => {
    for (const signer of [org1Client, org2Peer, orderer1]) {
      expect(policies.evaluate(CHANNEL_WRITERS_POLICY, [signer.signed()])).toEqual({ satisfied: true });
    }
    const why = reason(policies.evaluate(CHANNEL_WRITERS_POLICY, [stranger.signed()]));
    expect(why).toContain('policy /Channel/Writers (ANY Writers): 0 of 2 sub-policies satisfied, 1 required');
    expect(why).toContain('policy /Channel/Application/Writers (ANY Writers): 0 of 2 sub-policies satisfied, 1 required');
    expect(why).toContain('1 signature, 0 valid; dropped entry 0: identity refused (MSP StrangerMSP: unknown MSP)');
  });

  test('/Channel/Orderer/Writers (Broadcast in maintenance): orderer org only', () => {
    expect(policies.evaluate(ORDERER_WRITERS_POLICY, [orderer1.signed()]).satisfied).toBe(true);
    expect(reason(policies.evaluate(ORDERER_WRITERS_POLICY, [org1Admin.signed()]))).toContain(
      "policy /Channel/Orderer/OrdererMSP/Writers OR('OrdererMSP.member'): 0 of 1 rules satisfied",
    );
  });

  test('/Channel/Readers (Deliver) and channel-relative names', () => {
    expect(policies.evaluate('/Channel/Readers', [org2Peer.signed()]).satisfied).toBe(true);
    expect(policies.evaluate('Readers', [org2Peer.signed()]).satisfied).toBe(true);
    expect(policies.evaluate('Orderer/Readers', [org2Peer.signed()]).satisfied).toBe(false);
  });

  test('/Channel/Admins: a majority of Application and Orderer admins, each a majority of its orgs', () => {
    const all = [org1Admin.signed(), org2Admin.signed(), ordererAdmin.signed()];
    expect(policies.evaluate('/Channel/Admins', all).satisfied).toBe(true);
    // Application/Admins is MAJORITY of 2 orgs = both; without Org2's admin it fails, and with it
    // /Channel/Admins needs 2 of 2.
    expect(reason(policies.evaluate('/Channel/Admins', [org1Admin.signed(), ordererAdmin.signed()]))).toContain(
      'policy /Channel/Admins (MAJORITY Admins): 1 of 2 sub-policies satisfied, 2 required',
    );
    // Members are not admins.
    expect(policies.evaluate('/Channel/Admins', [org1Client.signed(), org2Peer.signed(), orderer1.signed()]).satisfied).toBe(false);
  });

  test('Application/LifecycleEndorsement: a majority of the orgs Endorsement policies', () => {
    expect(policies.evaluate('/Channel/Application/LifecycleEndorsement', [org1Client.signed()]).satisfied).toBe(false);
    expect(policies.evaluate('/Channel/Application/LifecycleEndorsement', [org1Client.signed(), org2Peer.signed()]).satisfied).toBe(true);
  });

  test('a name with no policy is rejected, saying so', () => {
    expect(policies.evaluate('/Channel/Orderer/Nope', [orderer1.signed()])).toEqual({
      satisfied: false,
      reason: 'channel mychannel has no policy "/Channel/Orderer/Nope"',
    });
  });

  test('a policy of type MSP anywhere in the tree: the config is refused, naming the path', () => {
    const cfg = channelConfig();
    cfg.channelGroup!.groups['Application']!.groups['Org2MSP']!.policies['Endorsement']!.policy!.type = common.Policy_PolicyType.MSP;
    expect(() => ConfigChannelPolicies.fromConfig('mychannel', cfg, msps)).toThrow(
      new PolicyConfigError('/Channel/Application/Org2MSP/Endorsement', 'policy type MSP is not supported (only SIGNATURE and IMPLICIT_META)'),
    );
  });
});

describe('mod_policy resolution (config updates, reference §4.2 step 5)', () => {
  test('relative names resolve in the scope group, absolute ones from /Channel', () => {
    const org1Admins = policies.modPolicy(['Application', 'Org1MSP'], 'Admins')!;
    expect(org1Admins.evaluate([org1Admin.signed()]).satisfied).toBe(true);
    expect(org1Admins.evaluate([org2Admin.signed()]).satisfied).toBe(false);
    // The channel group itself.
    expect(policies.modPolicy([], 'Admins')).toBe(policies.manager.getPolicy('/Channel/Admins'));
    // OrdererAddresses carries "/Channel/Orderer/Admins" whatever the scope.
    const ordererAddresses = channelConfig().channelGroup!.values['OrdererAddresses']!;
    expect(policies.modPolicy(['Application', 'Org1MSP'], ordererAddresses.modPolicy)).toBe(policies.manager.getPolicy('/Channel/Orderer/Admins'));
    expect(policies.modPolicy(['Application'], 'Org1MSP/Admins')).toBe(org1Admins);
  });

  test('an unknown scope group or policy resolves to nothing', () => {
    expect(policies.modPolicy(['Nope'], 'Admins')).toBeUndefined();
    expect(policies.modPolicy(['Application'], 'Nope')).toBeUndefined();
    expect(policies.modPolicy(['Application'], '')).toBeUndefined();
  });
});

describe('config update signatures against a mod_policy', () => {
  const configUpdate = common.ConfigUpdate.encode({ channelId: 'mychannel' });

  function signedUpdate(signers: readonly FakeSigner[]): common.ConfigUpdateEnvelope {
    const signatures = signers.map((s) => {
      const signatureHeader = common.SignatureHeader.encode({ creator: s.serialized, nonce: new Uint8Array(24).fill(2) });
      return { signatureHeader, signature: s.signed(Buffer.concat([signatureHeader, configUpdate])).signature };
    });
    return { configUpdate, signatures };
  }

  test('signed data per signature: signature_header ‖ config_update, identity = creator', () => {
    const envelope = signedUpdate([org1Admin]);
    const [entry] = configUpdateSignedData(envelope);
    expect(entry!.identity).toEqual(org1Admin.serialized);
    expect(Buffer.from(entry!.data)).toEqual(Buffer.concat([envelope.signatures[0]!.signatureHeader, configUpdate]));
  });

  test("the Org1 admin alone may change Org1's group (its Admins), not the Application group (MAJORITY Admins)", () => {
    const signedData = configUpdateSignedData(signedUpdate([org1Admin]));
    expect(policies.modPolicy(['Application', 'Org1MSP'], 'Admins')!.evaluate(signedData).satisfied).toBe(true);
    expect(policies.modPolicy(['Application'], 'Admins')!.evaluate(signedData).satisfied).toBe(false);
    const both = configUpdateSignedData(signedUpdate([org1Admin, org2Admin]));
    expect(policies.modPolicy(['Application'], 'Admins')!.evaluate(both).satisfied).toBe(true);
  });

  test('an unreadable signature header makes the update BAD_REQUEST', () => {
    const bad: common.ConfigUpdateEnvelope = { configUpdate, signatures: [{ signatureHeader: new Uint8Array([0x0a, 0x09]), signature: new Uint8Array() }] };
    expect(() => configUpdateSignedData(bad)).toThrow(OrdererError);
    expect(() => configUpdateSignedData(bad)).toThrow(/^config update signature 0: bad signature header: /);
  });
});

describe('ChannelPolicyEvaluator: the adapter to the PolicyEvaluator seam of msgcheck', () => {
  test('unsatisfied: FORBIDDEN with the reason; satisfied: passes', async () => {
    const evaluator = new ChannelPolicyEvaluator(() => policies);
    await expect(checkPolicy(evaluator, CHANNEL_WRITERS_POLICY, [org1Client.signed()])).resolves.toBeUndefined();
    const refusal = checkPolicy(evaluator, CHANNEL_WRITERS_POLICY, [stranger.signed()]);
    await expect(refusal).rejects.toBeInstanceOf(OrdererError);
    await expect(refusal).rejects.toMatchObject({ status: common.Status.FORBIDDEN });
    await expect(refusal).rejects.toThrow(/^signature set does not satisfy policy \/Channel\/Writers: policy \/Channel\/Writers \(ANY Writers\)/);
  });

  test('follows the channel config: each call reads the current policies', async () => {
    let current: ChannelPolicies = policies;
    const evaluator = new ChannelPolicyEvaluator(() => current);
    await expect(checkPolicy(evaluator, CHANNEL_WRITERS_POLICY, [org1Client.signed()])).resolves.toBeUndefined();
    // Config sequence 1 drops Org1 from the application orgs.
    const next = common.Config.decode(common.Config.encode(buildChannelConfig({ ...spec, applicationOrgs: [{ mspId: 'Org2MSP' }] })));
    current = ConfigChannelPolicies.fromConfig('mychannel', { ...next, sequence: 1 }, msps);
    await expect(checkPolicy(evaluator, CHANNEL_WRITERS_POLICY, [org1Client.signed()])).rejects.toMatchObject({ status: common.Status.FORBIDDEN });
  });
});

describe('block signatures against /Channel/Orderer/BlockValidation', () => {
  const value = common.OrdererBlockMetadata.encode({ lastConfig: { index: 0 } });

  function signedBlock(signers: readonly FakeSigner[]): common.Block {
    const block = newBlock(4, new Uint8Array(32).fill(7), [new Uint8Array([1, 2, 3])]);
    const headerBytes = blockHeaderBytes(block.header!);
    const signatures = signers.map((s) => {
      const signatureHeader = common.SignatureHeader.encode({ creator: s.serialized, nonce: new Uint8Array(24).fill(1) });
      const data = Buffer.concat([value, signatureHeader, headerBytes]);
      return { signatureHeader, signature: s.signed(data).signature };
    });
    block.metadata!.metadata[common.BlockMetadataIndex.SIGNATURES] = common.Metadata.encode({ value, signatures });
    return block;
  }

  test('signed data per signature: value ‖ signature_header ‖ DER(header), identity = creator', () => {
    const block = signedBlock([orderer1]);
    const [entry] = blockSignedData(block);
    const metadata = common.Metadata.decode(block.metadata!.metadata[0]!);
    expect(entry!.identity).toEqual(orderer1.serialized);
    expect(Buffer.from(entry!.data)).toEqual(Buffer.concat([value, metadata.signatures[0]!.signatureHeader, blockHeaderBytes(block.header!)]));
  });

  test("an orderer's signature satisfies it; an application org's does not", () => {
    expect(() => verifyBlockSignatures(signedBlock([orderer1]), policies)).not.toThrow();
    expect(() => verifyBlockSignatures(signedBlock([org1Admin, org2Admin]), policies)).toThrow(
      /^block 4: policy \/Channel\/Orderer\/BlockValidation \(ANY Writers\): 0 of 1 sub-policies satisfied/,
    );
    expect(policies.evaluate(BLOCK_VALIDATION_POLICY, blockSignedData(signedBlock([org1Admin, orderer1]))).satisfied).toBe(true);
  });

  test('a signature over another header does not count', () => {
    const block = signedBlock([orderer1]);
    block.header!.number = 5;
    expect(() => verifyBlockSignatures(block, policies)).toThrow(/bad signature by an identity of OrdererMSP/);
  });

  test('no signatures slot, or an unreadable signature header: the block is refused', () => {
    const block = signedBlock([orderer1]);
    block.metadata = { metadata: [] };
    expect(() => blockSignedData(block)).toThrow(new BlockSignatureError(4, 'no signatures metadata slot'));
    const bad = signedBlock([]);
    bad.metadata!.metadata[0] = common.Metadata.encode({ value, signatures: [{ signatureHeader: new Uint8Array([0x0a, 0x09]), signature: new Uint8Array() }] });
    expect(() => blockSignedData(bad)).toThrow(BlockSignatureError);
    expect(() => blockSignedData(bad)).toThrow(/^block 4: unreadable signatures metadata: /);
  });
});
