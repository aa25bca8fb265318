// Summary of a V8 CPU profile (`node --cpu-prof`): where the time went, by function (self time)
// and by area (self time grouped by the file a function lives in), plus inclusive time of a few
// entry points. `node orderer-bench-profile.js FILE.cpuprofile [top]` prints it; the orderer
// benchmark calls summarizeProfile() on the profiles of its nodes.
import { readFileSync } from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileEntry {
  name: string;
  ms: number;
  percent: number;
}

export interface ProfileSummary {
  file: string;
  totalMs: number;
  /** Idle (waiting in epoll) share of the profile. */
  idlePercent: number;
  topSelf: ProfileEntry[];
  byArea: ProfileEntry[];
  /** Inclusive time of functions whose names match the entry points of the pipeline. */
  inclusive: ProfileEntry[];
}

/** The area a frame belongs to: a package under node_modules, a folder of ours, node internals or V8. */
function areaOf(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (url === '') {
    if (functionName === '(idle)') return '(idle)';
    if (functionName === '(garbage collector)') return '(garbage collector)';
    if (functionName === '(program)') return '(program)';
    return `(native) ${functionName}`;
  }
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return rest[0]?.startsWith('@') === true ? `${rest[0]}/${rest[1] ?? ''}` : (rest[0] ?? url);
  }
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0] ?? ''}`;
  const dist = url.lastIndexOf('/dist/');
  if (dist >= 0) {
    const parts = url.slice(dist + '/dist/'.length).split('/');
    return parts.length > 2 ? `${parts[0]}/${parts[1]}` : parts.join('/');
  }
  return url;
}

function frameName(frame: CallFrame): string {
  const file = frame.url === '' ? '' : ` ${frame.url.replace(/^.*\/(node_modules|dist)\//, '').replace(/^file:\/\//, '')}:${frame.lineNumber + 1}`;
  return `${frame.functionName === '' ? '(anonymous)' : frame.functionName}${file}`;
}

const ENTRY_POINTS = [
  'handleBroadcast',
  'checkForBroadcast',
  'order',
  'onSubmit',
  'onForwarded',
  'onConsensus',
  'pumpIntake',
  'proposeBlock',
  'handleReady',
  'saveReady',
  'applyEntries',
  'appendBatch',
  'append',
  'send',
  'deliver',
  'handle',
  'step',
  'tick',
  'ready',
];

export function summarizeProfile(file: string, top = 20): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const selfUs = new Map<number, number>();
  let totalUs = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    selfUs.set(id, (selfUs.get(id) ?? 0) + dt);
    totalUs += dt;
  });
  const selfByName = new Map<string, number>();
  const selfByArea = new Map<string, number>();
  const inclusiveByName = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (node === undefined) continue;
    const name = frameName(node.callFrame);
    selfByName.set(name, (selfByName.get(name) ?? 0) + us);
    const area = areaOf(node.callFrame);
    selfByArea.set(area, (selfByArea.get(area) ?? 0) + us);
    // Inclusive: every distinct entry-point name on this sample's stack gets the time once.
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)?.callFrame;
      if (frame === undefined) break;
      if (!ENTRY_POINTS.includes(frame.functionName)) continue;
      const key = frameName(frame);
      if (seen.has(key)) continue;
      seen.add(key);
      inclusiveByName.set(key, (inclusiveByName.get(key) ?? 0) + us);
    }
  }
  const entries = (m: Map<string, number>, n: number): ProfileEntry[] =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, us]) => ({ name, ms: Math.round(us / 1000), percent: Math.round((us / totalUs) * 1000) / 10 }));
  const idleUs = selfByArea.get('(idle)') ?? 0;
  return {
    file,
    totalMs: Math.round(totalUs / 1000),
    idlePercent: Math.round((idleUs / totalUs) * 1000) / 10,
    topSelf: entries(selfByName, top),
    byArea: entries(selfByArea, top),
    inclusive: entries(inclusiveByName, top),
  };
}

export function formatSummary(s: ProfileSummary): string {
  const lines = [`${s.file}: ${s.totalMs} ms sampled, ${s.idlePercent}% idle`, '  self time by area:'];
  for (const e of s.byArea) lines.push(`    ${String(e.percent).padStart(5)}%  ${String(e.ms).padStart(7)} ms  ${e.name}`);
  lines.push('  self time by function:');
  for (const e of s.topSelf) lines.push(`    ${String(e.percent).padStart(5)}%  ${String(e.ms).padStart(7)} ms  ${e.name}`);
  lines.push('  inclusive time of pipeline functions:');
  for (const e of s.inclusive) lines.push(`    ${String(e.percent).padStart(5)}%  ${String(e.ms).padStart(7)} ms  ${e.name}`);
  return lines.join('\n');
}

if (require.main === module) {
  const [file, topText] = process.argv.slice(2);
  if (file === undefined) {
    console.error('usage: orderer-bench-profile FILE.cpuprofile [top]');
    process.exit(2);
  }
  console.log(formatSummary(summarizeProfile(file, Number(topText ?? 25))));
}
