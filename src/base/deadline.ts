/**
 * Settles like `operation`, or rejects with `onTimeout()` after `ms` if it has not settled by
 * then (the operation itself keeps running; its late outcome is ignored, never unhandled).
 */
export function within<T>(operation: Promise<T>, ms: number, onTimeout: () => unknown): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(onTimeout()), ms)
    operation.then(
      (value) => {
        clearTimeout(timer)
        resolve(value)
      },
      (error: unknown) => {
        clearTimeout(timer)
        reject(error)
      },
    )
  })
}
