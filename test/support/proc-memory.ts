// Memory figures of a live process as the kernel reports them (Linux /proc), shared by the
// benchmarks and the flood test.
import { readFileSync } from 'node:fs';

/** Memory figures of a live process from /proc/<pid>/status (Linux), in bytes. */
export interface ProcessMemory {
  /** VmHWM: peak resident set size since the process started. */
  peakRssBytes: number;
  /** VmRSS: resident set size now. */
  rssBytes: number;
  /** RssAnon (heap, stacks, malloc) and RssFile (mapped files: LMDB's map, code) now. */
  rssAnonBytes: number;
  rssFileBytes: number;
}

export function readProcessMemory(pid: number): ProcessMemory | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const kib = (key: string): number => {
    const match = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text);
    return match === null ? 0 : Number(match[1]) * 1024;
  };
  return { peakRssBytes: kib('VmHWM'), rssBytes: kib('VmRSS'), rssAnonBytes: kib('RssAnon'), rssFileBytes: kib('RssFile') };
}
