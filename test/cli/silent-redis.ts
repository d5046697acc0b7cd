import net from 'node:net'

/**
 * A TCP server that accepts connections, records the commands it is sent, and answers them in
 * order until `answer` returns undefined (by default at once): from then on it stays silent, like
 * a Redis paused in the middle of a command.
 */
export interface SilentServer {
  readonly port: number
  /** The names of the commands the clients sent, upper-cased, in order. */
  commands(): string[]
  /** Resolves once every connection it accepted has closed. */
  allClosed(): Promise<void>
  close(): void
}

/** Starts one for the current test, closed when it finishes (`onTestFinished` of its context: tests run concurrently). */
export async function silentServer(
  onTestFinished: (close: () => void) => void,
  answer: (command: string) => string | undefined = () => undefined,
): Promise<SilentServer> {
  const open = new Set<net.Socket>()
  const commands: string[] = []
  let waiters: (() => void)[] = []
  const tcp = net.createServer((socket) => {
    open.add(socket)
    let pending = ''
    let silent = false
    socket.on('data', (chunk: Buffer) => {
      pending += chunk.toString('latin1')
      for (let parsed = nextCommand(pending); parsed !== undefined; parsed = nextCommand(pending)) {
        pending = pending.slice(parsed.length)
        commands.push(parsed.name)
        const reply = silent ? undefined : answer(parsed.name)
        if (reply === undefined) silent = true
        else socket.write(reply)
      }
    })
    socket.on('error', () => {})
    socket.on('close', () => {
      open.delete(socket)
      if (open.size > 0) return
      for (const wake of waiters) wake()
      waiters = []
    })
  })
  await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve))
  const s: SilentServer = {
    port: (tcp.address() as net.AddressInfo).port,
    commands: () => [...commands],
    allClosed: () =>
      open.size === 0 ? Promise.resolve() : new Promise<void>((resolve) => waiters.push(resolve)),
    close: () => {
      for (const socket of open) socket.destroy()
      tcp.close()
    },
  }
  onTestFinished(() => s.close())
  return s
}

/** The first RESP command (an array of bulk strings) of `text`: its name and length, or undefined if incomplete. */
function nextCommand(text: string): { name: string; length: number } | undefined {
  const head = /^\*(\d+)\r\n/.exec(text)
  if (head === null) return undefined
  let at = head[0].length
  let name = ''
  for (let i = 0; i < Number(head[1]); i++) {
    const bulk = /^\$(\d+)\r\n/.exec(text.slice(at))
    if (bulk === null) return undefined
    const start = at + bulk[0].length
    const end = start + Number(bulk[1])
    if (text.length < end + 2) return undefined
    if (i === 0) name = text.slice(start, end).toUpperCase()
    at = end + 2
  }
  return { name, length: at }
}
