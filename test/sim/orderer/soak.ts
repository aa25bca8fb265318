// Whole-orderer simulation outside jest: a longer soak, or one seed replayed with its trace.
//   npm run soak                                              # 20000 memory seeds from 0, then 500 durable
//   node dist/test/sim/orderer/soak.js --seeds 50000 --from 1000000
//   node dist/test/sim/orderer/soak.js --durable --seeds 2000
//   node dist/test/sim/orderer/soak.js --seed 1234 --trace   # replay one seed step by step
import { runOrdererSeed, type OrdererRunResult, type OrdererRunStats } from './run';

export function ordererReplayCommand(seed: number, durable: boolean): string {
  return `SIM_ORDERER_SEED=${seed}${durable ? ' SIM_ORDERER_DURABLE=1' : ''} npx jest test/sim/orderer-sim.test.ts   (add SIM_TRACE=1 for the trace)`;
}

export function describeOrdererFailure(r: OrdererRunResult, durable: boolean): string {
  const v = r.violation!;
  return [`seed ${r.seed}${durable ? ' (durable)' : ''}: ${v.message}`, `  params: ${r.params}`, `  replay: ${ordererReplayCommand(r.seed, durable)}`].join('\n');
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  let seeds = 20_000;
  let from = 0;
  let durableSeeds = 500;
  let only: number | undefined;
  let trace = false;
  let durableOnly = false;
  let chunk: [number, number] | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--seeds') seeds = Number(argv[++i]);
    else if (a === '--from') from = Number(argv[++i]);
    else if (a === '--durable-seeds') durableSeeds = Number(argv[++i]);
    else if (a === '--durable') durableOnly = true;
    else if (a === '--seed') only = Number(argv[++i]);
    else if (a === '--trace') trace = true;
    else if (a === '--chunk') chunk = [Number(argv[++i]), Number(argv[++i])];
    else throw new Error(`unknown option ${a}`);
  }
  if (chunk !== undefined) {
    // For the jest files: one chunk of seeds in a plain node process (no jest vm: ~3x faster),
    // answered as one JSON line.
    const failures: string[] = [];
    const totals: Partial<Record<keyof OrdererRunStats, number>> = {};
    for (let seed = chunk[0]; seed < chunk[1]; seed++) {
      const r = await runOrdererSeed(seed, { durable: durableOnly });
      for (const [k, v] of Object.entries(r.stats) as [keyof OrdererRunStats, number][]) totals[k] = (totals[k] ?? 0) + v;
      if (r.violation !== undefined) failures.push(describeOrdererFailure(r, durableOnly));
    }
    process.stdout.write(`${JSON.stringify({ failures, totals })}\n`);
    return 0;
  }
  if (only !== undefined) {
    const r = await runOrdererSeed(only, { durable: durableOnly, trace, traceSink: (l) => process.stdout.write(`${l}\n`) });
    console.log(`seed ${only}: ${r.params}\n${JSON.stringify(r.stats)}`);
    if (r.violation !== undefined) console.log(describeOrdererFailure(r, durableOnly));
    return r.violation === undefined ? 0 : 1;
  }
  let failed = 0;
  const plan: Array<{ durable: boolean; count: number }> = durableOnly ? [{ durable: true, count: seeds }] : [{ durable: false, count: seeds }, { durable: true, count: durableSeeds }];
  for (const { durable, count } of plan) {
    const started = Date.now();
    for (let seed = from; seed < from + count; seed++) {
      const r = await runOrdererSeed(seed, { durable });
      if (r.violation !== undefined) {
        failed++;
        console.log(describeOrdererFailure(r, durable));
      }
      const done = seed - from + 1;
      // Progress every 500 seeds, and always once at the end of each kind of run.
      if (done % 500 === 0 || done === count) console.log(`${durable ? 'durable ' : ''}seeds ${from}..${seed}: ${failed} failed, ${((Date.now() - started) / 1000).toFixed(0)} s`);
    }
  }
  return failed === 0 ? 0 : 1;
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
