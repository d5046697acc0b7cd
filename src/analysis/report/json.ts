import type { AnalysisReport } from '../report-model.js'

/** The report as one JSON document (Infinity, which JSON cannot hold, becomes null). */
export function formatJson(report: AnalysisReport): string {
  return `${JSON.stringify(report, (_key, value) => (typeof value === 'number' && !Number.isFinite(value) ? null : value), 2)}\n`
}
