import { runConformanceThrough } from './client-conformance.js'

await runConformanceThrough('iovalkey')
