// Whole-orderer simulation, shard 1 of 2: a file of its own so jest runs it on the other
// worker. Replays go through orderer-sim.test.ts (SIM_ORDERER_SEED=<seed>).
import { describeOrdererShard } from './orderer/shard-tests';

if (process.env.SIM_ORDERER_SEED === undefined) describeOrdererShard(1, 2);
else test.skip('replays run in orderer-sim.test.ts', () => undefined);
