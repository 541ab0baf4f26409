/**
 * Unit tests of the pure front-end code (form rules, formatters, the wait for a workspace
 * to answer): plain jest + ts-jest in Node, no DOM. `jlpm test`.
 */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.spec.ts'],
  transform: {
    '^.+\\.tsx?$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.test.json' }]
  }
};
