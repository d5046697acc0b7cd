/** The live dashboard: a request handler to mount in your own server (`stratacache dashboard` runs one). */
export {
  type CollectOptions,
  collectSnapshots,
  createDashboardHandler,
  type DashboardCache,
  type DashboardFeed,
  type DashboardHandler,
  type DashboardOptions,
  type NextFunction,
  type SnapshotCollector,
  type SnapshotFeed,
  type SnapshotSubscribe,
} from './handler.js'
export { ALL, type GroupPoint, type HistoryPoint, RESULTS, type ReadResult } from './history.js'
