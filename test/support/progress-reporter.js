// A jest reporter that shows the suite is alive between files: when a test file starts, and each
// test that took longer than a second as it finishes (the simulator's seed chunks, the real-process
// tests), with the time since the run began. Jest's own reporter prints a file only once it ends,
// which left minutes of silence on a 2-core machine.
'use strict';

const SLOW_TEST_MS = 1000;

class ProgressReporter {
  constructor() {
    this.startedMs = Date.now();
    this.filesStarted = 0;
    this.filesTotal = 0;
  }

  stamp() {
    const s = Math.round((Date.now() - this.startedMs) / 1000);
    return `[${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}]`;
  }

  relative(testPath) {
    const root = process.cwd();
    return testPath.startsWith(root) ? testPath.slice(root.length + 1) : testPath;
  }

  onRunStart(results) {
    this.startedMs = Date.now();
    this.filesTotal = results.numTotalTestSuites;
  }

  onTestFileStart(test) {
    this.filesStarted++;
    process.stderr.write(`${this.stamp()} start ${this.filesStarted}/${this.filesTotal} ${this.relative(test.path)}\n`);
  }

  onTestCaseResult(test, result) {
    if ((result.duration ?? 0) < SLOW_TEST_MS && result.status === 'passed') return;
    const seconds = ((result.duration ?? 0) / 1000).toFixed(1);
    process.stderr.write(`${this.stamp()}   ${result.status} ${this.relative(test.path)} › ${result.fullName} (${seconds} s)\n`);
  }

  getLastError() {
    return undefined;
  }
}

module.exports = ProgressReporter;
