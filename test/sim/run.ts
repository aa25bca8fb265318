// Soak runner for long simulator runs outside jest:
//   npm run build && node dist/test/sim/run.js --seeds 10000 --from 0
// Options: --seeds N (how many), --from S (first seed), --nodes 3|5 (default: by seed),
// --steps N (fault steps per seed), --seed S (replay one seed with its trace), --stop (stop
// at the first failure), --no-snapshot-finish (the transport reports only lost MsgSnaps, as
// cluster/ does today: see FINDINGS.md #1). Prints progress, every failing seed with its replay command, and a
// summary; exits 1 if any seed failed.
import { runSeed, type RunStats } from './cluster';
import type { ParamOverrides } from './params';

interface Args {
  seeds: number;
  from: number;
  overrides: ParamOverrides;
  replay?: number;
  stopAtFirst: boolean;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { seeds: 1000, from: 0, overrides: {}, stopAtFirst: false };
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
      default:
        throw new Error(`unknown option ${flag}`);
    }
  }
  return args;
}

function main(): number {
  const args = parseArgs(process.argv.slice(2));
  if (args.replay !== undefined) {
    const r = runSeed(args.replay, { trace: true, traceSink: (line) => console.log(line), overrides: args.overrides });
    console.log(`seed ${r.seed}: ${r.params}`);
    console.log(JSON.stringify(r.stats));
    if (r.violation !== undefined) {
      console.log(`FAILED: ${r.violation.message}`);
      return 1;
    }
    console.log('ok');
    return 0;
  }
  const started = Date.now();
  const totals = new Map<keyof RunStats, number>();
  const failures: number[] = [];
  let lastReport = started;
  let done = 0;
  for (let seed = args.from; seed < args.from + args.seeds; seed++) {
    const r = runSeed(seed, { overrides: args.overrides });
    done++;
    for (const [k, v] of Object.entries(r.stats) as [keyof RunStats, number][]) totals.set(k, (totals.get(k) ?? 0) + v);
    if (r.violation !== undefined) {
      failures.push(seed);
      console.log(`seed ${seed} FAILED: ${r.violation.message.split('\n')[0]}`);
      console.log(`  params: ${r.params}`);
      console.log(`  replay: SIM_SEED=${seed} SIM_TRACE=1 npx jest test/sim/sim.test.ts   (or node dist/test/sim/run.js --seed ${seed})`);
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

process.exitCode = main();
