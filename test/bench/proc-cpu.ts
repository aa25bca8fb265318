// CPU accounting for the orderer benchmark: each measured process's user and kernel time, and
// the whole machine's, over one run. On a small shared machine the bench is CPU-bound, so the
// question a run answers is where each envelope's CPU went: the orderers' own code, the kernel
// working for them (sockets, file writes, fsync), the bench's client and observer, and anything
// else on the machine. The machine's busy time over the cores it had says how close to
// saturated the run was; the difference between it and the measured processes is the rest.
import { readFileSync } from 'node:fs';
import os from 'node:os';

/** CPU time a process has used so far, split the way the kernel accounts it. */
export interface CpuTimes {
  readonly userMs: number;
  readonly systemMs: number;
}

/** USER_HZ: 100 on every Linux architecture Node runs on. */
const CLOCK_TICKS_PER_SECOND = 100;

function ticksToMs(ticks: number): number {
  return (ticks * 1000) / CLOCK_TICKS_PER_SECOND;
}

/** A live process's CPU time from /proc/<pid>/stat; undefined if it is gone (or not on Linux). */
export function readProcessCpu(pid: number): CpuTimes | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // Fields after the command name (which may hold spaces) start after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const userTicks = Number(fields[11]); // utime, field 14
  const systemTicks = Number(fields[12]); // stime, field 15
  if (!Number.isFinite(userTicks) || !Number.isFinite(systemTicks)) return undefined;
  return { userMs: ticksToMs(userTicks), systemMs: ticksToMs(systemTicks) };
}

/** This process (every thread of it, so the observer's worker too). */
export function ownCpu(): CpuTimes {
  const usage = process.cpuUsage();
  return { userMs: usage.user / 1000, systemMs: usage.system / 1000 };
}

/** Every CPU's time since boot, from /proc/stat's first line. */
export interface MachineCpu {
  /** user + nice + system + irq + softirq + steal, summed over the CPUs. */
  readonly busyMs: number;
  /** system + irq + softirq: the kernel's share of busyMs. */
  readonly kernelMs: number;
  readonly cpus: number;
}

export function readMachineCpu(): MachineCpu | undefined {
  let line: string;
  try {
    line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
  } catch {
    return undefined;
  }
  const [label, ...rest] = line.trim().split(/\s+/);
  const t = rest.map(Number);
  if (label !== 'cpu' || t.length < 8 || t.slice(0, 8).some((v) => !Number.isFinite(v))) return undefined;
  const [user, nice, system, , , irq, softirq, steal] = t as [number, number, number, number, number, number, number, number];
  return { busyMs: ticksToMs(user + nice + system + irq + softirq + steal), kernelMs: ticksToMs(system + irq + softirq), cpus: os.cpus().length };
}

export interface CpuSource {
  readonly name: string;
  cpu(): CpuTimes | undefined;
}

export interface SourceUsage {
  readonly cpuMs: number;
  readonly kernelCpuMs: number;
  /** CPU time over wall time. */
  readonly cores: number;
  readonly cpuMsPer1kEnvelopes: number;
  readonly kernelCpuMsPer1kEnvelopes: number;
}

export interface MachineUsage {
  /** What the machine's cores could give per 1,000 envelopes at the measured rate (cores × wall time). */
  readonly availableMsPer1kEnvelopes: number;
  readonly busyMsPer1kEnvelopes: number;
  readonly kernelMsPer1kEnvelopes: number;
  /** Busy time not used by the measured processes: other processes, and the kernel's unattributed work. */
  readonly othersMsPer1kEnvelopes: number;
  readonly busyShare: number;
}

export interface CpuUsage {
  readonly wallMs: number;
  readonly sources: Readonly<Record<string, SourceUsage>>;
  readonly total: SourceUsage;
  /** Undefined where /proc/stat cannot be read. */
  readonly machine: MachineUsage | undefined;
}

const round1 = (v: number): number => Math.round(v * 10) / 10;
const round2 = (v: number): number => Math.round(v * 100) / 100;

function usage(cpuMs: number, kernelCpuMs: number, wallMs: number, envelopes: number): SourceUsage {
  return {
    cpuMs: Math.round(cpuMs),
    kernelCpuMs: Math.round(kernelCpuMs),
    cores: round2(cpuMs / wallMs),
    cpuMsPer1kEnvelopes: round1((cpuMs / envelopes) * 1000),
    kernelCpuMsPer1kEnvelopes: round1((kernelCpuMs / envelopes) * 1000),
  };
}

/**
 * Starts measuring; the returned function gives what each source, all of them together, and the
 * machine used from now until it is called, per 1,000 of the envelopes it is given. A source
 * that is gone by then counts as NaN (a node that died mid-run should not look cheap).
 */
export function cpuMeter(sources: readonly CpuSource[], clock: () => number = Date.now): (envelopes: number) => CpuUsage {
  const startedMs = clock();
  const before = sources.map((s) => s.cpu());
  const machineBefore = readMachineCpu();
  return (envelopes) => {
    const wallMs = Math.max(1, clock() - startedMs);
    const machineAfter = readMachineCpu();
    const per = (ms: number): number => round1((ms / envelopes) * 1000);
    const out: Record<string, SourceUsage> = {};
    let totalMs = 0;
    let totalKernelMs = 0;
    sources.forEach((s, i) => {
      const a = before[i];
      const b = s.cpu();
      const userMs = a === undefined || b === undefined ? Number.NaN : b.userMs - a.userMs;
      const systemMs = a === undefined || b === undefined ? Number.NaN : b.systemMs - a.systemMs;
      totalMs += userMs + systemMs;
      totalKernelMs += systemMs;
      out[s.name] = usage(userMs + systemMs, systemMs, wallMs, envelopes);
    });
    let machine: MachineUsage | undefined;
    if (machineBefore !== undefined && machineAfter !== undefined) {
      const busyMs = machineAfter.busyMs - machineBefore.busyMs;
      const availableMs = machineAfter.cpus * wallMs;
      machine = {
        availableMsPer1kEnvelopes: per(availableMs),
        busyMsPer1kEnvelopes: per(busyMs),
        kernelMsPer1kEnvelopes: per(machineAfter.kernelMs - machineBefore.kernelMs),
        othersMsPer1kEnvelopes: per(busyMs - totalMs),
        busyShare: round2(busyMs / availableMs),
      };
    }
    return { wallMs, sources: out, total: usage(totalMs, totalKernelMs, wallMs, envelopes), machine };
  };
}

/**
 * One line for the run's log: where the CPU per 1,000 envelopes went. `groups` names which
 * sources to add up under one label (the orderer nodes), in the order to print them; a group
 * with none of them measured is left out (orderers the bench did not start, --target, count
 * under "everything else" when they run on this machine).
 */
export function formatCpuLine(u: CpuUsage, groups: ReadonlyArray<{ label: string; sources: readonly string[] }>): string {
  const parts = groups.flatMap(({ label, sources }) => {
    const picked = sources.map((n) => u.sources[n]).filter((s): s is SourceUsage => s !== undefined);
    if (picked.length === 0) return [];
    const cpu = picked.reduce((n, s) => n + s.cpuMsPer1kEnvelopes, 0);
    const kernel = picked.reduce((n, s) => n + s.kernelCpuMsPer1kEnvelopes, 0);
    return [`${label} ${Math.round(cpu)} (kernel ${Math.round(kernel)})`];
  });
  const m = u.machine;
  const machine =
    m === undefined
      ? ''
      : `, everything else ${Math.round(m.othersMsPer1kEnvelopes)}; machine busy ${Math.round(m.busyMsPer1kEnvelopes)} of ${Math.round(m.availableMsPer1kEnvelopes)} available (${Math.round(m.busyShare * 100)}%)`;
  return `CPU ms per 1,000 envelopes: ${parts.join(', ')}${machine}`;
}
