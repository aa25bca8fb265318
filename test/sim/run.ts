// Soak runner for long simulator runs outside jest:
//   npm run build && node dist/test/sim/run.js --seeds 10000 --from 0
// Options: --seeds N (how many), --from S (first seed), --nodes 3|5 (default: by seed),
// --steps N (fault steps per seed), --seed S (replay one seed with its trace), --stop (stop
// at the first failure), --no-snapshot-finish (the transport reports only lost MsgSnaps, as
// cluster/ does today: see FINDINGS.md #1), --durable (nodes on consensus/wal's DurableStorage
// in temporary directories, see durable.ts), --no-power-loss (memory mode with the durable
// runs' parameters). Prints progress, every failing seed with its
// replay command, and a summary; exits 1 if any seed failed.
import { runSeed, type RunOptions, type RunResult } from './cluster';
import { runSeedDurable } from './durable';
import type { ParamOverrides } from './params';

interface Args {
  seeds: number;
  from: number;
  overrides: ParamOverrides;
  replay?: number;
  stopAtFirst: boolean;
  durable: boolean;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { seeds: 1000, from: 0, overrides: {}, stopAtFirst: false, durable: false };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = (): number => {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < 0) throw new Error(`${flag} needs a non-negative integer`);
      return v;
    };
    switch (flag) {
      case '--seeds':
        args.seeds = value();
        break;
      case '--from':
        args.from = value();
        break;
      case '--nodes':
        args.overrides.nodes = value();
        break;
      case '--steps':
        args.overrides.faultSteps = value();
        break;
      case '--seed':
        args.replay = value();
        break;
      case '--stop':
        args.stopAtFirst = true;
        break;
      case '--no-snapshot-finish':
        args.overrides.reportSnapshotFinish = false;
        break;
      case '--durable':
        args.durable = true;
        break;
      case '--no-power-loss':
        args.overrides.powerLoss = false;
        break;
      default:
        throw new Error(`unknown option ${flag}`);
    }
  }
  return args;
}

/** A run's counters: the simulation's, plus the WAL's in durable mode. */
function counters(r: RunResult & { durable?: object }): [string, number][] {
  return Object.entries({ ...r.stats, ...r.durable }) as [string, number][];
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const run = (seed: number, options: RunOptions): Promise<RunResult> => (args.durable ? runSeedDurable(seed, options) : runSeed(seed, options));
  if (args.replay !== undefined) {
    const r = await run(args.replay, { trace: true, traceSink: (line) => console.log(line), overrides: args.overrides });
    console.log(`seed ${r.seed}: ${r.params}`);
    console.log(JSON.stringify(Object.fromEntries(counters(r))));
    if (r.violation !== undefined) {
      console.log(`FAILED: ${r.violation.message}`);
      return 1;
    }
    console.log('ok');
    return 0;
  }
  const started = Date.now();
  const totals = new Map<string, number>();
  const failures: number[] = [];
  let lastReport = started;
  let done = 0;
  for (let seed = args.from; seed < args.from + args.seeds; seed++) {
    const r = await run(seed, { overrides: args.overrides });
    done++;
    for (const [k, v] of counters(r)) totals.set(k, (totals.get(k) ?? 0) + v);
    if (r.violation !== undefined) {
      failures.push(seed);
      console.log(`seed ${seed} FAILED: ${r.violation.message.split('\n')[0]}`);
      console.log(`  params: ${r.params}`);
      const o = args.overrides;
      const flags = `${args.durable ? ' --durable' : ''}${o.reportSnapshotFinish === false ? ' --no-snapshot-finish' : ''}${o.powerLoss === false ? ' --no-power-loss' : ''}`;
      const jest = args.durable ? `SIM_DURABLE_SEED=${seed} SIM_TRACE=1 npx jest test/sim/sim-durable.test.ts` : `SIM_SEED=${seed} SIM_TRACE=1 npx jest test/sim/sim.test.ts`;
      console.log(`  replay: node dist/test/sim/run.js${flags} --seed ${seed}   (or ${jest})`);
      if (args.stopAtFirst) break;
    }
    const now = Date.now();
    if (now - lastReport > 5000) {
      lastReport = now;
      console.log(`${done}/${args.seeds} seeds, ${failures.length} failed, ${((now - started) / 1000).toFixed(0)}s`);
    }
  }
  const secs = (Date.now() - started) / 1000;
  const summary: Record<string, number> = {};
  for (const [k, v] of totals) summary[k] = v;
  console.log(JSON.stringify({ seeds: done, failed: failures.length, failures: failures.slice(0, 50), seconds: secs, totals: summary }));
  console.log(`${done} seeds in ${secs.toFixed(1)}s: ${failures.length === 0 ? 'all passed' : `${failures.length} FAILED`}`);
  return failures.length === 0 ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  },
);
