// The bench's CPU accounting: what it reads from /proc and how it splits a run's CPU per 1,000
// envelopes, which is what the bench prints and the performance log quotes.
import { cpuMeter, formatCpuLine, readMachineCpu, readProcessCpu, type CpuTimes, type CpuUsage } from './proc-cpu';

/** Burns `ms` of this process's own CPU time (not wall time: a loaded machine gives less of it). */
function spin(ms: number): void {
  const start = process.cpuUsage();
  let x = 0;
  while (process.cpuUsage(start).user < ms * 1000) for (let i = 0; i < 10_000; i++) x += Math.sqrt(x + 1);
  if (Number.isNaN(x)) throw new Error('unreachable');
}

describe('bench CPU accounting', () => {
  it('reads a live process user and kernel time from /proc, and nothing for a process that is gone', () => {
    const before = readProcessCpu(process.pid);
    expect(before).toBeDefined();
    spin(300);
    const after = readProcessCpu(process.pid) as CpuTimes;
    // 300 ms of user time, in /proc's 10 ms ticks.
    expect(after.userMs - (before as CpuTimes).userMs).toBeGreaterThanOrEqual(150);
    expect(after.systemMs).toBeGreaterThanOrEqual((before as CpuTimes).systemMs);
    expect(readProcessCpu(2 ** 22 + 12345)).toBeUndefined();
  });

  it('splits a run per source and per 1,000 envelopes, and a source that vanished counts as NaN', () => {
    let nowMs = 1_000;
    const node = { userMs: 100, systemMs: 50 };
    let gone = false;
    const meter = cpuMeter(
      [
        { name: 'orderer1', cpu: () => ({ ...node }) },
        { name: 'orderer2', cpu: () => (gone ? undefined : { userMs: 0, systemMs: 0 }) },
      ],
      () => nowMs,
    );
    nowMs += 2_000;
    node.userMs += 300;
    node.systemMs += 100;
    gone = true;
    const u = meter(4_000);
    expect(u.wallMs).toBe(2_000);
    expect(u.sources['orderer1']).toEqual({ cpuMs: 400, kernelCpuMs: 100, cores: 0.2, cpuMsPer1kEnvelopes: 100, kernelCpuMsPer1kEnvelopes: 25 });
    expect(u.sources['orderer2']?.cpuMs).toBeNaN();
    expect(u.total.cpuMs).toBeNaN();
  });

  it('measures the machine: busy within what the cores had, and the rest beside the measured processes', () => {
    expect(readMachineCpu()).toBeDefined();
    const meter = cpuMeter([{ name: 'self', cpu: () => readProcessCpu(process.pid) }]);
    spin(400);
    const u = meter(1_000);
    const m = u.machine;
    expect(m).toBeDefined();
    if (m === undefined) return;
    // This process alone kept one core busy, so the machine was at least that busy...
    expect(m.busyMsPer1kEnvelopes).toBeGreaterThanOrEqual(200);
    // ...and never busier than its cores (plus tick rounding).
    expect(m.busyMsPer1kEnvelopes).toBeLessThanOrEqual(m.availableMsPer1kEnvelopes + 50);
    expect(m.othersMsPer1kEnvelopes).toBeCloseTo(m.busyMsPer1kEnvelopes - (u.sources['self']?.cpuMsPer1kEnvelopes ?? Number.NaN), 0);
    expect(m.kernelMsPer1kEnvelopes).toBeLessThanOrEqual(m.busyMsPer1kEnvelopes);
  });

  it('prints one line a person can read: groups summed, the kernel share, the rest and the machine', () => {
    const src = (cpuMsPer1kEnvelopes: number, kernelCpuMsPer1kEnvelopes: number) => ({ cpuMs: 0, kernelCpuMs: 0, cores: 0, cpuMsPer1kEnvelopes, kernelCpuMsPer1kEnvelopes });
    const u: CpuUsage = {
      wallMs: 1_000,
      sources: { orderer1: src(40.4, 10), orderer2: src(60.2, 12), loadGenerator: src(45, 9) },
      total: src(145.6, 31),
      machine: { availableMsPer1kEnvelopes: 200, busyMsPer1kEnvelopes: 190, kernelMsPer1kEnvelopes: 50, othersMsPer1kEnvelopes: 44.4, busyShare: 0.95 },
    };
    expect(
      formatCpuLine(u, [
        { label: 'orderers', sources: ['orderer1', 'orderer2'] },
        { label: 'this bench', sources: ['loadGenerator'] },
      ]),
    ).toBe('CPU ms per 1,000 envelopes: orderers 101 (kernel 22), this bench 45 (kernel 9), everything else 44; machine busy 190 of 200 available (95%)');
    // Against orderers the bench did not start (--target) there is no orderer figure to print, not a zero.
    const targetRun: CpuUsage = { ...u, sources: { loadGenerator: src(45, 9) } };
    expect(
      formatCpuLine(targetRun, [
        { label: 'orderers', sources: [] },
        { label: 'this bench', sources: ['loadGenerator'] },
      ]),
    ).toBe('CPU ms per 1,000 envelopes: this bench 45 (kernel 9), everything else 44; machine busy 190 of 200 available (95%)');
  });
});
