import cluster from 'node:cluster'
import { runPrimary } from './primary.js'
import { parseDemoArgs, settingsFromEnv, USAGE } from './settings.js'
import { runWorker } from './worker.js'

/**
 * `pnpm demo [-- --backend sqlite|redis|postgres|etcd]`: a web app on node:cluster
 * whose workers share locks, driven by concurrent requests. The primary
 * forks the workers and drives the scenarios; each worker serves HTTP.
 */
if (cluster.isPrimary) {
  let code: number
  try {
    const args = parseDemoArgs(process.argv.slice(2))
    if (args.help) {
      console.log(USAGE)
      code = 0
    } else {
      code = await runPrimary(args)
    }
  } catch (error) {
    console.error(`${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`)
    code = 2
  }
  // Exit explicitly: idle keep-alive sockets to the (now gone) workers must not hold the process.
  process.exit(code)
} else {
  await runWorker(settingsFromEnv())
}
