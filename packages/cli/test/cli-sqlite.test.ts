import { describeLockworkOn } from './cli-cases.js'
import { sqliteStore } from './stores.js'

describeLockworkOn(sqliteStore)
