// The Raft-level planted bugs (test/sim/plant.ts) in CI: each mutated copy of consensus/raft/
// is caught by the Raft simulator within its seed budget, and an unmutated copy passes.
// Budgets are the first catching seed (measured with `node dist/test/sim/plant.js`) with room.
// Runs the compiled plant script when dist/ is up to date with the sources (npm test builds
// first), in this process otherwise.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PLANTS, buildPlantedImpl, huntPlant } from './plant';
import { distIsFresh, runCompiledForExit } from './orderer/suite';

const BUDGET_SEEDS: Readonly<Record<string, number>> = {
  control: 50,
  // First caught at seed 214: Figure 8 needs three leaders with diverging logs.
  'commit-previous-term': 300,
  'double-vote': 20,
  'no-truncate': 20,
  'vote-ignores-log': 20,
  'commit-quorum-off-by-one': 20,
  'ready-drops-vote': 20,
};

const fast = distIsFresh();
const base = path.join(__dirname, '.planted', 'ci');

afterAll(() => fs.rmSync(base, { recursive: true, force: true }));

describe('planted Raft bugs are caught by the Raft simulator', () => {
  for (const plant of PLANTS) {
    const budget = BUDGET_SEEDS[plant.name];
    const control = plant.find === '';
    test(control ? `an unmutated copy of the core passes ${budget} seeds` : `${plant.name} is caught within ${budget} seeds: ${plant.breaks}`, async () => {
      expect(budget).toBeDefined();
      if (fast) {
        // Exit code 0: the control passed, or the plant was caught within the budget.
        const { code, output } = await runCompiledForExit('plant.js', ['--plant', plant.name, '--seeds', String(budget)]);
        if (code !== 0) throw new Error(output);
        return;
      }
      const impl = buildPlantedImpl(plant, path.join(base, plant.name));
      const out = await huntPlant(impl, 0, budget!);
      if (control) expect(out.caughtAtSeed).toBeUndefined();
      else expect(out.caughtAtSeed).toBeDefined();
    }, 300_000);
  }
});
