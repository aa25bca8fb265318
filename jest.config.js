/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' } }] },
  testTimeout: 60000,
  // Jest's default is one worker per core minus one: a single worker on a 2-core machine, which
  // left a core idle and doubled the suite's time. The suite's tests wait for events, not for
  // wall-clock bounds, so two files side by side on two cores is safe.
  maxWorkers: 2,
  // Progress while files run (start of each file, every slow test as it ends), then jest's summary.
  reporters: ['default', '<rootDir>/test/support/progress-reporter.js'],
  // Longest files first, also without jest's timing cache (a clean clone): see the file.
  testSequencer: '<rootDir>/test/support/sequencer.js',
};
