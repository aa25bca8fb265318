// Deterministic cluster simulation, shard 1 of 2: a separate file so jest can run it on
// another worker. Replays go through sim.test.ts (SIM_SEED=<seed>), though this file
// replays the seed too when SIM_SEED is set.
import { describeShard } from './shard-tests';

const SHARD = 1;
const SHARDS = 2;

describeShard(SHARD, SHARDS);
