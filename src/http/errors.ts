import { StrataError } from '../index.js'

/**
 * The CDN purge hook failed after the tags were invalidated in stratacache: this cache no longer
 * serves the old responses, the CDN may until you retry (`tags` says which). `cause` is the hook's
 * error.
 */
export class HttpPurgeError extends StrataError {
  readonly tags: readonly string[]
  constructor(message: string, tags: readonly string[], options?: { cause?: unknown }) {
    super('E_HTTP_PURGE', message, options)
    this.tags = tags
  }
}
