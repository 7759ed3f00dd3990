import { existsSync } from 'node:fs'
import { type Browser, chromium } from 'playwright-core'

/** The Chromium the browser tests drive: `CHROMIUM_PATH`, default Debian's `/usr/bin/chromium`. No browser is ever downloaded. */
export const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

/**
 * Whether the browser tests can run. Under `CI=true` a missing Chromium
 * fails the file; elsewhere one loud line says how to get it.
 */
export function chromiumAvailable(): boolean {
  if (existsSync(chromiumPath)) return true
  if (process.env.CI === 'true') {
    throw new Error(`Chromium is required under CI=true for the dashboard tests: ${chromiumPath} is missing`)
  }
  console.warn(
    `⚠️  SKIPPING the dashboard browser tests: no Chromium at ${chromiumPath}. ` +
      'Install it (apt-get install chromium) or set CHROMIUM_PATH to run them.',
  )
  return false
}

/** Starts a headless Chromium that stays off the network (no updates, sync or QUIC). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  })
}
