// Whole-orderer simulation, shard 1 of 2: a file of its own so jest runs it on the other
// worker. Replays go through orderer-sim.test.ts (SIM_ORDERER_SEED=<seed>), though this file
// replays the seed too when SIM_ORDERER_SEED is set.
import { describeOrdererShard } from './orderer/shard-tests';

describeOrdererShard(1, 2);
