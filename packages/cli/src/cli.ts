#!/usr/bin/env node
/** The `lockwork` command: runs {@link runCli} with the process's arguments and exits with its code. */
import { runCli } from './run-cli.js'

process.exitCode = await runCli(process.argv.slice(2))
