// A CONFIG envelope a leader acknowledged is not refused later by the same leader's second look
// while the config has not moved (as Fabric's leader checks it again only then). Found by the
// whole-orderer simulation (memory seed 3722): a follower's consenter change passed the leader's
// intake check, quorum guard included, and was acknowledged; by the cut a node had gone quiet,
// the guard ran again and dropped the change whose sender had heard SUCCESS.
import { LeaderPipeline, type IntakeItem } from '../../orderer/chain/leader-pipeline';
import type { ChainSettings } from '../../orderer/chain/types';
import { OrdererError } from '../../orderer/errors';
import { common } from '../../protos';
import { testChainSettings } from '../support/chain-settings';
import { readyLeaderPipeline } from '../support/leader-pipeline';

const CHANNEL = 'recheck';

function configEnvelope(label: string): Uint8Array {
  const channelHeader = common.ChannelHeader.encode({ type: common.HeaderType.CONFIG, channelId: CHANNEL, txId: `config-${label}`, timestamp: { seconds: 1, nanos: 0 } });
  const payload = common.Payload.encode({ header: { channelHeader, signatureHeader: new Uint8Array(0) }, data: new TextEncoder().encode(label) });
  return common.Envelope.encode({ payload, signature: Uint8Array.of(1) });
}

async function leader(): Promise<{ pipeline: LeaderPipeline; proposed: Uint8Array[]; checks: string[]; settings: { value: ChainSettings }; refuseFromNow(): void }> {
  const settings = { value: testChainSettings(3, { batchTimeoutMs: 20 }, '127.0.0.1') };
  const checks: string[] = [];
  let refuse = false;
  const { pipeline, proposed } = await readyLeaderPipeline(CHANNEL, {
    settings: () => settings.value,
    // The quorum guard's verdict changes when a node goes quiet: from then on it refuses.
    recheck: (item: IntakeItem) => {
      checks.push(item.txId);
      if (refuse) return OrdererError.badRequest('the channel would lose quorum');
      return { ...item, configSeq: settings.value.configSequence };
    },
  });
  return { pipeline, proposed, checks, settings, refuseFromNow: () => (refuse = true) };
}

test('an acknowledged CONFIG envelope is proposed without a second check while the config has not moved', async () => {
  const { pipeline, proposed, checks, refuseFromNow } = await leader();
  const taken = pipeline.takeForwarded(2, { lastValidationSeq: 0, envelope: configEnvelope('add-node-4') });
  expect(taken).toBe('taken'); // the sender hears SUCCESS
  expect(checks).toEqual(['config-add-node-4']);
  refuseFromNow(); // a node goes quiet before the cut
  pipeline.pump();
  expect(checks).toHaveLength(1); // not checked again
  expect(proposed).toHaveLength(1); // ordered, as acknowledged
});

test('one checked against a config that has moved since is checked again at the cut, and dropped if it no longer passes', async () => {
  const { pipeline, proposed, checks, settings, refuseFromNow } = await leader();
  expect(pipeline.takeForwarded(2, { lastValidationSeq: 0, envelope: configEnvelope('add-node-5') })).toBe('taken');
  settings.value = { ...settings.value, configSequence: 1 }; // another update got there first
  refuseFromNow();
  pipeline.pump();
  expect(checks).toEqual(['config-add-node-5', 'config-add-node-5']);
  expect(proposed).toHaveLength(0);
});
