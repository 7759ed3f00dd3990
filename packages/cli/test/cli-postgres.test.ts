import { describeLockworkOn } from './cli-cases.js'
import { pingPostgres, postgresStore, serverAvailable } from './stores.js'

describeLockworkOn(postgresStore, await serverAvailable('PostgreSQL', pingPostgres))
