import { fileURLToPath } from 'node:url'

/** The monorepo root (workers are started from there so `tsx` and the workspace packages resolve). */
export const repoRoot: string = fileURLToPath(new URL('../../', import.meta.url))

/** The absolute path of a file in `reliability/src/`. */
export function srcFile(name: string): string {
  return fileURLToPath(new URL(`./${name}`, import.meta.url))
}
