// A Chain on one node with no peers, for in-process chain tests: memory storage passed in, open
// access, a transport that reaches nobody, nothing to pull from. Tests add the options they test.
import pino from 'pino';
import type { ClusterTransport } from '../../cluster/types';
import { Chain } from '../../orderer/chain/chain';
import type { ChainOptions } from '../../orderer/chain/types';
import { InsecureOpenChannelAccess } from '../../orderer/policies/channel-access';

export const NO_PEERS: ClusterTransport = {
  sendConsensus: () => false,
  sendSubmit: () => Promise.reject(new Error('no peers in a single-node channel')),
};

export function soloChain(o: Pick<ChainOptions, 'channelId' | 'settings' | 'blockStore' | 'raft'> & Partial<ChainOptions>): Chain {
  return new Chain({
    selfId: 1,
    access: new InsecureOpenChannelAccess(),
    transport: NO_PEERS,
    pullBlocks: () => {
      throw new Error('nothing to pull from');
    },
    logger: pino({ level: 'silent' }),
    rngSeed: 7,
    ...o,
  });
}
