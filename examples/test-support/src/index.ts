export {
  type ExampleProcess,
  exitOf,
  type ProcessExit,
  readLines,
  startExample,
  stopProcess,
} from './example-process.js'
export { startWebApps, type WebApps } from './web-apps.js'
