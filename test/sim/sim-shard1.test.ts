// Deterministic cluster simulation, shard 1 of 2: a separate file so jest runs it on the
// other core. Replays still go through sim.test.ts (SIM_SEED=<seed>).
import { defineSimSuite } from './suite';

describe('cluster simulation, shard 1', () => {
  defineSimSuite(1, 2);
});
