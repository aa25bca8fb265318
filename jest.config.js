/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' } }] },
  testTimeout: 60000,
  // Progress while files run (start of each file, every slow test as it ends), then jest's summary.
  reporters: ['default', '<rootDir>/test/support/progress-reporter.js'],
};
