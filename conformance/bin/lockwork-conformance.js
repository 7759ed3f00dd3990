#!/usr/bin/env node
// The `lockwork-conformance` command: runs the built runner (dist/cli.js).
import '../dist/cli.js'
