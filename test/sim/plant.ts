// Planted bugs: shows the simulator catches real Raft mistakes. For each plant it copies
// consensus/raft/*.ts, applies one mutation by exact string replacement, transpiles the
// copy into test/sim/.planted/<plant>/ (gitignored; removed afterwards unless --keep), and
// runs seeds against it until an invariant fails, printing the seed and the invariant.
//   npm run build && node dist/test/sim/plant.js                 # every plant
//   node dist/test/sim/plant.js --plant double-vote --seeds 500  # one plant, at most 500 seeds
//   node dist/test/sim/plant.js --plant control                  # unmutated copy: must pass
//   node dist/test/sim/plant.js --count --seeds 1000             # how many seeds catch each plant
// The mutations match the core's source text; when the core is refactored a plant may
// stop applying, which is reported (exit code 2) rather than silently skipped.
import * as fs from 'node:fs';
import * as path from 'node:path';
import ts from 'typescript';
import type { NodeId, RaftConfig, WritableStorage } from '../../consensus/raft/api';
import { runSeed } from './cluster';
import type { RaftImpl, SimRawNode } from './impl';

export interface Plant {
  name: string;
  /** What the mutation breaks, in Raft's terms. */
  breaks: string;
  /** File under consensus/raft/, the exact text to find (once) and its replacement. */
  file: string;
  find: string;
  replace: string;
}

export const PLANTS: readonly Plant[] = [
  {
    name: 'control',
    breaks: 'nothing: an unmutated copy, to show the copying machinery itself is sound',
    file: 'log.ts',
    find: '',
    replace: '',
  },
  {
    name: 'commit-previous-term',
    breaks: 'Raft §5.4.2: a leader commits an entry of an earlier term by counting replicas (Figure 8)',
    file: 'log.ts',
    find: 'if (index > this.committed && this.matchTerm(index, term)) {',
    replace: 'if (index > this.committed && index <= this.lastIndex() && term > 0) {',
  },
  {
    name: 'double-vote',
    breaks: 'Raft §5.2: a node grants its vote to every candidate of a term, not only the first',
    file: 'election.ts',
    find: 'r.vote === m.from ||',
    replace: 'true ||',
  },
  {
    name: 'no-truncate',
    breaks: 'Raft §5.3: a follower keeps its conflicting suffix instead of replacing it with the leader\'s entries',
    file: 'log.ts',
    find: 'this.append(ents.slice(conflict - (prevIndex + 1)));',
    replace: '{ const tail = ents.filter((e) => e.index > this.lastIndex()); if (tail.length > 0) this.append(tail); }',
  },
  {
    name: 'vote-ignores-log',
    breaks: 'Raft §5.4.1: votes go to candidates whose log is not up to date',
    file: 'election.ts',
    find: 'if (canVote && r.log.isUpToDate(m.index, m.logTerm)) {',
    replace: 'if (canVote) {',
  },
  {
    name: 'commit-quorum-off-by-one',
    breaks: 'Raft §5.3: an index counts as committed one acknowledgement short of a majority',
    file: 'quorum.ts',
    find: 'return matches[majoritySize(n) - 1]!;',
    replace: 'return matches[majoritySize(n) - 2]!;',
  },
  {
    name: 'ready-drops-vote',
    breaks: 'Ready contract: a changed vote is not handed out for persistence (only term and commit are compared)',
    file: 'rawnode.ts',
    find: 'if (!isEmptyHardState(hs) && !hardStateEqual(hs, this.prevHardState)) rd.hardState = hs;',
    replace:
      'if (!isEmptyHardState(hs) && (hs.term !== this.prevHardState.term || hs.commit !== this.prevHardState.commit)) rd.hardState = hs;',
  },
];

/**
 * The repository (whose consensus/raft/*.ts gets copied) and the protos module the
 * simulator itself loaded (the copy must share it: one set of codecs and enums).
 */
function locate(): { root: string; protosModule: string } {
  const protosModule = path.resolve(__dirname, '../../protos');
  for (const start of [__dirname, process.cwd()]) {
    for (let dir = start; ; dir = path.dirname(dir)) {
      if (fs.existsSync(path.join(dir, 'consensus', 'raft', 'api.ts'))) return { root: dir, protosModule };
      if (path.dirname(dir) === dir) break;
    }
  }
  throw new Error('cannot find the repository (consensus/raft/api.ts) above this file or the working directory');
}

export class PlantNotApplicable extends Error {
  constructor(plant: string, why: string) {
    super(`plant ${plant} does not apply: ${why}`);
    this.name = 'PlantNotApplicable';
  }
}

/** Build the mutated copy and load it as a RaftImpl. */
export function buildPlantedImpl(plant: Plant, outDir: string): RaftImpl {
  const { root, protosModule } = locate();
  const srcDir = path.join(root, 'consensus', 'raft');
  fs.rmSync(outDir, { recursive: true, force: true });
  fs.mkdirSync(outDir, { recursive: true });
  let applied = plant.find === '';
  for (const file of fs.readdirSync(srcDir)) {
    if (!file.endsWith('.ts')) continue;
    let source = fs.readFileSync(path.join(srcDir, file), 'utf8');
    if (file === plant.file && plant.find !== '') {
      const at = source.indexOf(plant.find);
      if (at < 0) throw new PlantNotApplicable(plant.name, `text not found in consensus/raft/${file}`);
      if (source.indexOf(plant.find, at + 1) >= 0) throw new PlantNotApplicable(plant.name, `text found twice in ${file}`);
      source = source.slice(0, at) + plant.replace + source.slice(at + plant.find.length);
      applied = true;
    }
    const out = ts.transpileModule(source, {
      fileName: file,
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
    });
    // The copy lives elsewhere: point its one import outside consensus/raft/ at the same
    // protos module the simulator uses (one copy of the codecs and enums).
    const js = out.outputText.replace(/require\("\.\.\/\.\.\/protos"\)/g, `require(${JSON.stringify(protosModule)})`);
    if (/require\("\.\.\//.test(js)) throw new PlantNotApplicable(plant.name, `${file} imports outside consensus/raft/`);
    fs.writeFileSync(path.join(outDir, file.replace(/\.ts$/, '.js')), js);
  }
  if (!applied) throw new PlantNotApplicable(plant.name, `consensus/raft/${plant.file} not found`);
  const rawnode = loadModule(path.join(outDir, 'rawnode.js'));
  const storage = loadModule(path.join(outDir, 'memory-storage.js'));
  const RawNode = rawnode['RawNode'] as PlantedRawNodeClass | undefined;
  const MemoryStorage = storage['MemoryStorage'] as (new () => WritableStorage) | undefined;
  if (typeof RawNode !== 'function' || typeof MemoryStorage !== 'function') {
    throw new PlantNotApplicable(plant.name, 'the copy does not export RawNode and MemoryStorage');
  }
  return {
    name: plant.name,
    newStorage: () => new MemoryStorage(),
    bootstrap: (s, peers) => RawNode.bootstrap(s, peers),
    newNode: (config) => new RawNode(config),
  };
}

interface PlantedRawNodeClass {
  new (config: RaftConfig): SimRawNode;
  bootstrap(storage: WritableStorage, peers: NodeId[]): void;
}

function loadModule(file: string): Record<string, unknown> {
  // A fresh copy each time: the module cache would hand back an older plant's code.
  delete require.cache[require.resolve(file)];
  return require(file) as Record<string, unknown>;
}

export interface PlantOutcome {
  plant: string;
  caughtAtSeed?: number;
  seedsRun: number;
  invariant?: string;
  detail?: string;
}

/** Run seeds from `from` until one fails or `maxSeeds` have passed. */
export async function huntPlant(impl: RaftImpl, from: number, maxSeeds: number): Promise<PlantOutcome> {
  for (let i = 0; i < maxSeeds; i++) {
    const seed = from + i;
    const r = await runSeed(seed, { impl });
    if (r.violation !== undefined) {
      return {
        plant: impl.name,
        caughtAtSeed: seed,
        seedsRun: i + 1,
        invariant: r.violation.invariant,
        detail: r.violation.message.split('\n')[0],
      };
    }
  }
  return { plant: impl.name, seedsRun: maxSeeds };
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  let only: string | undefined;
  let maxSeeds = 3000;
  let from = 0;
  let keep = false;
  let countAll = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--plant') only = argv[++i];
    else if (a === '--seeds') maxSeeds = Number(argv[++i]);
    else if (a === '--from') from = Number(argv[++i]);
    else if (a === '--keep') keep = true;
    else if (a === '--count') countAll = true;
    else throw new Error(`unknown option ${a}`);
  }
  const plants = PLANTS.filter((p) => only === undefined || p.name === only);
  if (plants.length === 0) throw new Error(`no plant named ${only}; known: ${PLANTS.map((p) => p.name).join(', ')}`);
  const base = path.join(locate().root, 'test', 'sim', '.planted');
  let exit = 0;
  for (const plant of plants) {
    const dir = path.join(base, plant.name);
    console.log(`== ${plant.name}: ${plant.breaks}`);
    let impl: RaftImpl;
    try {
      impl = buildPlantedImpl(plant, dir);
    } catch (e) {
      if (!(e instanceof PlantNotApplicable)) throw e;
      console.log(`   ${e.message}`);
      exit = Math.max(exit, 2);
      continue;
    }
    const started = Date.now();
    if (countAll) {
      // How sharp the simulator is against this bug: the share of seeds that catch it.
      const byInvariant = new Map<string, number>();
      let caught = 0;
      for (let seed = from; seed < from + maxSeeds; seed++) {
        const v = (await runSeed(seed, { impl })).violation;
        if (v === undefined) continue;
        caught++;
        byInvariant.set(v.invariant, (byInvariant.get(v.invariant) ?? 0) + 1);
      }
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      console.log(`   ${caught} of ${maxSeeds} seeds catch it (${secs}s): ${[...byInvariant].map(([k, n]) => `${k} x${n}`).join(', ')}`);
      if (!keep) fs.rmSync(dir, { recursive: true, force: true });
      continue;
    }
    const out = await huntPlant(impl, from, maxSeeds);
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    if (plant.find === '') {
      const ok = out.caughtAtSeed === undefined;
      console.log(ok ? `   ${out.seedsRun} seeds, no violation (as it must) in ${secs}s` : `   CONTROL FAILED at seed ${out.caughtAtSeed}: ${out.detail}`);
      if (!ok) exit = 1;
    } else if (out.caughtAtSeed !== undefined) {
      console.log(`   caught at seed ${out.caughtAtSeed} (${out.seedsRun} seeds, ${secs}s) by "${out.invariant}"`);
      console.log(`   ${out.detail}`);
    } else {
      console.log(`   NOT caught in ${out.seedsRun} seeds (${secs}s)`);
      exit = 1;
    }
    if (!keep) fs.rmSync(dir, { recursive: true, force: true });
  }
  if (!keep) fs.rmSync(base, { recursive: true, force: true });
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
