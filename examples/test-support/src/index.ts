export {
  type ExampleProcess,
  exitOf,
  type ProcessExit,
  readLines,
  startExample,
  stopProcess,
} from './example-process.js'
