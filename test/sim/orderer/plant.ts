// Planted bugs in the real Chain: shows the whole-orderer simulator catches the mistakes it is
// meant to. Each plant copies orderer/chain/*.ts, applies its mutations by exact text
// replacement, transpiles the copy into test/sim/.planted-chain/<plant>/ (gitignored, removed
// afterwards) with every import outside orderer/chain/ pointed at the real module, and runs
// whole-orderer seeds with the planted Chain until an invariant fails.
//   npm run build && node dist/test/sim/orderer/plant.js                    # every plant, within its budget
//   node dist/test/sim/orderer/plant.js --plant propose-before-applied --seeds 500
//   node dist/test/sim/orderer/plant.js --count --seeds 300                 # how many seeds catch each plant
// When chain.ts changes so a mutation no longer applies, that is reported (exit code 2), never skipped.
import * as fs from 'node:fs';
import * as path from 'node:path';
import ts from 'typescript';
import type { ChainOptions } from '../../../orderer/chain/types';
import type { ChainFactory, SimChain } from './orderer-node';
import { runOrdererSeed } from './run';

export interface ChainPlant {
  name: string;
  /** What the mutation breaks. */
  breaks: string;
  /** Seeds from 0 within which CI requires the plant caught (measured with --count; see test/sim/README.md). */
  budgetSeeds: number;
  /** Exact texts of orderer/chain/<file>, each found once, and their replacements. */
  mutations: ReadonlyArray<{ file: string; find: string; replace: string }>;
}

export const CHAIN_PLANTS: readonly ChainPlant[] = [
  {
    name: 'control',
    breaks: 'nothing: an unmutated copy, to show the copying machinery itself is sound',
    budgetSeeds: 20,
    mutations: [],
  },
  {
    name: 'defect-1-duplicate',
    breaks: 'Fabric §3.5 / issue #11 defect 1: a new leader takes envelopes into its intake before it has applied its log, so one resent envelope is ordered twice',
    // About one seed in thirty catches it (10 of 300 before pulls took simulated time, 11 after).
    budgetSeeds: 100,
    mutations: [
      { file: 'leader-pipeline.ts', find: 'if (!this.ready) {\n      // A copy: a batch', replace: 'if (false) {\n      // A copy: a batch' },
      { file: 'leader-pipeline.ts', find: 'if (!this.readyValue) throw new ChainInvariantError(`envelope', replace: 'if (false) throw new ChainInvariantError(`envelope' },
      { file: 'forwarding.ts', find: "if (!pipeline.ready) {\n          if (!(await pipeline.waitForRoom())) throw OrdererError.serviceUnavailable('the new Raft leader", replace: "if (false) {\n          if (!(await pipeline.waitForRoom())) throw OrdererError.serviceUnavailable('the new Raft leader" },
    ],
  },
  {
    name: 'swallow-invariant-error',
    breaks: 'issue #11 defect 2: a broken Raft invariant thrown by step() is logged as a warning and the channel goes on',
    budgetSeeds: 50,
    mutations: [
      { file: 'chain.ts', find: 'if (!(err instanceof RaftError) || err instanceof RaftInvariantError) throw err;', replace: 'if (!(err instanceof RaftError)) throw err;' },
    ],
  },
  {
    name: 'propose-before-applied',
    breaks: 'Fabric §3.5: a new leader seeds its block cursor and proposes before it has applied the entries of earlier terms',
    budgetSeeds: 30,
    mutations: [{ file: 'chain.ts', find: 'this.pipeline.becomeLeader(raftIndex(this.options.raft.storage.lastIndex()));', replace: 'this.pipeline.becomeLeader(this.applier.appliedIndex);' }],
  },
  {
    name: 'refuse-overtaken-forward',
    breaks: 'issue #11 (what SUCCESS means): a follower refuses an envelope whose forward to a deposed leader may still be queued, so a refused envelope can be ordered',
    budgetSeeds: 100,
    mutations: [{ file: 'forwarding.ts', find: 'if (!maybeOrdered) throw err;', replace: 'throw err;' }],
  },
  {
    name: 'success-before-leader-confirms',
    breaks: 'issue #11 (what SUCCESS means): a follower answers SUCCESS once the forward is in its own send queue, as Fabric does, so killing that follower loses it',
    budgetSeeds: 50,
    mutations: [
      { file: 'forwarding.ts', find: 'if (t.sendSubmitAcked !== undefined) return', replace: 'if (false as boolean && t.sendSubmitAcked !== undefined) return' },
      { file: 'forwarding.ts', find: 'if (leader !== this.o.selfId && this.o.transport.submitAcked !== undefined) {', replace: 'if (false as boolean && leader !== this.o.selfId && this.o.transport.submitAcked !== undefined) {' },
    ],
  },
  {
    name: 'leader-success-before-commit',
    breaks: 'issue #11 (what SUCCESS means): the leader answers its own clients SUCCESS once the envelope is in its intake, so killing the leader loses it',
    budgetSeeds: 50,
    mutations: [
      { file: 'forwarding.ts', find: "if (placed.kind === 'own-intake') await placed.committed;", replace: "if (placed.kind === 'own-intake') void placed.committed.catch(() => undefined);" },
      { file: 'forwarding.ts', find: 'this.addCommitWaiter(env.txId, waiter);', replace: 'this.addCommitWaiter(env.txId, waiter); waiter.resolve();' },
    ],
  },
  {
    name: 'backlog-before-pull',
    breaks: 'catch-up beside the loop: entries committed while a node pulls the blocks of a snapshot are written before those blocks are in',
    budgetSeeds: 30,
    mutations: [{ file: 'apply.ts', find: 'if (this.lag === undefined) {\n      const last', replace: 'if (true) {\n      const last' }],
  },
  {
    name: 'applied-follows-raft-while-pulling',
    breaks: 'catch-up beside the loop: the applied index follows Raft while the ledger is behind, so a node elected while it pulls takes envelopes before its ledger has its log',
    // 2 of 400 seeds catch it (249, 316); 5 of 400 (first 61) while the simulated network could
    // deliver an acknowledged forward twice, which a stream never does.
    budgetSeeds: 300,
    mutations: [{ file: 'apply.ts', find: '      this.backlogEnd = index;\n    }\n    return', replace: '      this.backlogEnd = index;\n      this.appliedValue = index;\n    }\n    return' }],
  },
  {
    name: 'no-resubmission',
    breaks: 'README "What a Broadcast SUCCESS means": envelopes acknowledged but dropped with a deposed leader\'s intake or cutter are never resent',
    budgetSeeds: 20,
    mutations: [{ file: 'forwarding.ts', find: 'private resend(items: AcceptedEnvelope[]): void {\n    if (items.length === 0) return;', replace: 'private resend(items: AcceptedEnvelope[]): void {\n    return;' }],
  },
];

export class ChainPlantNotApplicable extends Error {
  constructor(plant: string, why: string) {
    super(`plant ${plant} does not apply: ${why}`);
    this.name = 'ChainPlantNotApplicable';
  }
}

function repoRoot(): string {
  for (const start of [__dirname, process.cwd()]) {
    for (let dir = start; ; dir = path.dirname(dir)) {
      if (fs.existsSync(path.join(dir, 'orderer', 'chain', 'chain.ts')) && fs.existsSync(path.join(dir, 'package.json'))) return dir;
      if (path.dirname(dir) === dir) break;
    }
  }
  throw new Error('cannot find the repository (orderer/chain/chain.ts) above this file or the working directory');
}

/** Builds the mutated copy and returns a factory of planted Chains. */
export function buildPlantedChain(plant: ChainPlant, outDir: string): ChainFactory {
  const root = repoRoot();
  const srcDir = path.join(root, 'orderer', 'chain');
  // The modules the copy imports from outside orderer/chain/ are the ones this process runs:
  // the sources under jest, the compiled files under dist/ otherwise (one copy of every class).
  const runningChainDir = path.resolve(__dirname, '..', '..', '..', 'orderer', 'chain');
  fs.rmSync(outDir, { recursive: true, force: true });
  fs.mkdirSync(outDir, { recursive: true });
  const pending = new Set(plant.mutations.map((_, i) => i));
  for (const file of fs.readdirSync(srcDir)) {
    if (!file.endsWith('.ts')) continue;
    let source = fs.readFileSync(path.join(srcDir, file), 'utf8');
    plant.mutations.forEach((m, i) => {
      if (m.file !== file) return;
      const at = source.indexOf(m.find);
      if (at < 0) throw new ChainPlantNotApplicable(plant.name, `text not found in orderer/chain/${file}: ${m.find.slice(0, 60)}`);
      if (source.indexOf(m.find, at + 1) >= 0) throw new ChainPlantNotApplicable(plant.name, `text found twice in ${file}: ${m.find.slice(0, 60)}`);
      source = source.slice(0, at) + m.replace + source.slice(at + m.find.length);
      pending.delete(i);
    });
    const out = ts.transpileModule(source, {
      fileName: file,
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
    });
    const js = out.outputText.replace(/require\("(\.\.\/[^"]+)"\)/g, (_m, spec: string) => `require(${JSON.stringify(path.resolve(runningChainDir, spec))})`);
    fs.writeFileSync(path.join(outDir, file.replace(/\.ts$/, '.js')), js);
  }
  if (pending.size > 0) throw new ChainPlantNotApplicable(plant.name, 'a mutation names a file that is not in orderer/chain/');
  const file = path.join(outDir, 'chain.js');
  for (const f of fs.readdirSync(outDir)) delete require.cache[path.join(outDir, f)];
  const mod = require(file) as { Chain?: new (options: ChainOptions) => SimChain };
  const PlantedChain = mod.Chain;
  if (typeof PlantedChain !== 'function') throw new ChainPlantNotApplicable(plant.name, 'the copy does not export Chain');
  return (options) => new PlantedChain(options);
}

export interface ChainPlantOutcome {
  plant: string;
  caughtAtSeed?: number;
  seedsRun: number;
  invariant?: string;
  detail?: string;
}

/** Runs seeds from `from` until one fails or `maxSeeds` have passed. */
export async function huntChainPlant(plant: ChainPlant, maxSeeds: number, from = 0): Promise<ChainPlantOutcome> {
  const dir = path.join(repoRoot(), 'test', 'sim', '.planted-chain', plant.name);
  const newChain = buildPlantedChain(plant, dir);
  try {
    for (let i = 0; i < maxSeeds; i++) {
      const r = await runOrdererSeed(from + i, { newChain });
      if (r.violation !== undefined) {
        return { plant: plant.name, caughtAtSeed: from + i, seedsRun: i + 1, invariant: r.violation.invariant, detail: r.violation.message.split('\n')[0] };
      }
    }
    return { plant: plant.name, seedsRun: maxSeeds };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  let only: string | undefined;
  let seeds: number | undefined;
  let count = false;
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--plant') only = argv[++i];
    else if (a === '--seeds') seeds = Number(argv[++i]);
    else if (a === '--count') count = true;
    else if (a === '--json') json = true;
    else throw new Error(`unknown option ${a}`);
  }
  const plants = CHAIN_PLANTS.filter((p) => only === undefined || p.name === only);
  if (plants.length === 0) throw new Error(`no plant named ${only}; known: ${CHAIN_PLANTS.map((p) => p.name).join(', ')}`);
  let exit = 0;
  for (const plant of plants) {
    const started = Date.now();
    if (count) {
      const dir = path.join(repoRoot(), 'test', 'sim', '.planted-chain', plant.name);
      const newChain = buildPlantedChain(plant, dir);
      const caught: number[] = [];
      const n = seeds ?? 300;
      for (let seed = 0; seed < n; seed++) if ((await runOrdererSeed(seed, { newChain })).violation !== undefined) caught.push(seed);
      fs.rmSync(dir, { recursive: true, force: true });
      console.log(`${plant.name}: ${caught.length} of ${n} seeds catch it (first: ${caught.slice(0, 8).join(', ')}) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      continue;
    }
    let out: ChainPlantOutcome;
    try {
      out = await huntChainPlant(plant, seeds ?? plant.budgetSeeds);
    } catch (e) {
      if (!(e instanceof ChainPlantNotApplicable)) throw e;
      if (json) process.stdout.write(`${JSON.stringify({ plant: plant.name, notApplicable: e.message })}\n`);
      else console.log(`${plant.name}: ${e.message}`);
      exit = Math.max(exit, 2);
      continue;
    }
    if (json) {
      process.stdout.write(`${JSON.stringify(out)}\n`);
      continue;
    }
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    const isControl = plant.mutations.length === 0;
    if (isControl) console.log(out.caughtAtSeed === undefined ? `control: ${out.seedsRun} seeds pass (${secs} s)` : `CONTROL FAILED at seed ${out.caughtAtSeed}: ${out.detail}`);
    else if (out.caughtAtSeed !== undefined) console.log(`${plant.name}: caught at seed ${out.caughtAtSeed} (${out.seedsRun} seeds, ${secs} s) by "${out.invariant}"\n  ${out.detail}`);
    else console.log(`${plant.name}: NOT caught in ${out.seedsRun} seeds (${secs} s)`);
    if (isControl ? out.caughtAtSeed !== undefined : out.caughtAtSeed === undefined) exit = 1;
  }
  return exit;
}

if (require.main === module) {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      console.error(e);
      process.exitCode = 1;
    },
  );
}
