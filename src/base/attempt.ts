/**
 * Calls `run` and hands back its promise; a synchronous throw becomes a rejection. A caller that
 * handles the promise's rejections then handles everything `run` can do (a custom log's bug, a
 * refused argument, a closed client must not throw past it, nor crash the process from a tick).
 */
export function attempt<R>(run: () => Promise<R>): Promise<R> {
  try {
    return run()
  } catch (error) {
    return Promise.reject(error)
  }
}
