// Runs the built client CLI (dist/cmd/client.js) as a user would and collects what it printed.
import { spawn } from 'node:child_process';
import path from 'node:path';

export const CLIENT_JS = path.join(__dirname, '..', '..', 'dist', 'cmd', 'client.js');

export interface ClientRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runClient(args: string[]): Promise<ClientRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLIENT_JS, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
