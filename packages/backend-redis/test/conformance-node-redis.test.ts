import { runConformanceThrough } from './client-conformance.js'

await runConformanceThrough('node-redis')
