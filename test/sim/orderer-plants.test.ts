// Planted bugs in the real Chain (test/sim/orderer/plant.ts): each is caught by the
// whole-orderer simulator within its documented seed budget, and an unmutated copy passes.
// Runs the compiled plant script when dist/ is up to date with the sources (npm test builds
// first), in this process otherwise.
import { CHAIN_PLANTS, huntChainPlant, type ChainPlantOutcome } from './orderer/plant';
import { distIsFresh, runCompiled } from './orderer/suite';

const fast = distIsFresh();

async function hunt(name: string, budget: number): Promise<ChainPlantOutcome> {
  if (fast) return JSON.parse(await runCompiled('orderer/plant.js', ['--plant', name, '--seeds', String(budget), '--json'])) as ChainPlantOutcome;
  return huntChainPlant(CHAIN_PLANTS.find((p) => p.name === name)!, budget);
}

describe('planted bugs in the Chain are caught by the whole-orderer simulator', () => {
  if (process.env.SIM_ORDERER_SEED !== undefined) return;
  for (const plant of CHAIN_PLANTS) {
    const control = plant.mutations.length === 0;
    test(control ? `an unmutated copy of the Chain passes ${plant.budgetSeeds} seeds` : `${plant.name} is caught within ${plant.budgetSeeds} seeds: ${plant.breaks}`, async () => {
      const out = await hunt(plant.name, plant.budgetSeeds);
      if (control) expect(out.caughtAtSeed).toBeUndefined();
      else expect(out).toMatchObject({ caughtAtSeed: expect.any(Number) as unknown });
    }, 300_000);
  }
});
