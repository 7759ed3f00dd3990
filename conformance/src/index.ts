export type { AdapterModule } from './adapter-module.js'
export type {
  BackendCapabilities,
  ConformanceOptions,
  ExpectFn,
  Matchers,
  TestApi,
} from './conformance-options.js'
export { ODD_KEYS } from './key-cases.js'
export { runConformance } from './run-conformance.js'
