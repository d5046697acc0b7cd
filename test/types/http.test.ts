import { tracingChannel } from 'node:diagnostics_channel'
import express from 'express'
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify'
import { describe, expectTypeOf, it } from 'vitest'
import { httpCache } from '../../dist/http/express.js'
import { fastifyHttpCache, routePolicy } from '../../dist/http/fastify.js'
import { type Cache, createCache, type OperationContext } from '../../dist/index.js'
import { createDashboardHandler } from '../../dist/observability/dashboard/index.js'

// Type-level only (checked by `tsc -p tsconfig.json`; nothing here connects or listens): each case
// is a doc sample that once failed under strict TypeScript (issue 20, friction 6).
const cache: Cache = createCache({ namespace: 'types-http', l2: false })

describe('HTTP typings', () => {
  it("Express: route() leaves the route's params to Express (inferred from the path)", () => {
    const app = express()
    const http = httpCache({ cache })
    app.get('/products/:id', http.route({ maxAge: '60s' }), (req, res) => {
      expectTypeOf(req.params.id).toEqualTypeOf<string>()
      http.tag(req, `product:${req.params.id}`)
      res.end()
    })
    const router = express.Router()
    router.get('/a/:slug', http.route({ maxAge: 0 }), (req) => {
      expectTypeOf(req.params.slug).toEqualTypeOf<string>()
    })
  })

  it('Express: route<P>() types the policy callbacks over the params it names', () => {
    const http = httpCache({ cache })
    http.route<{ id: string }>({
      tags: (req) => {
        expectTypeOf(req.params.id).toEqualTypeOf<string>()
        return [`product:${req.params.id}`]
      },
    })
  })

  it("Fastify: routePolicy<G>() types the policy's request as the route's generic", async () => {
    const app = Fastify()
    await app.register(fastifyHttpCache, { cache })
    type ById = { Params: { id: string } }
    app.get<ById>(
      '/products/:id',
      {
        config: {
          httpCache: routePolicy<ById>({
            tags: (request) => {
              expectTypeOf(request.params.id).toEqualTypeOf<string>()
              return [`product:${request.params.id}`]
            },
          }),
        },
      },
      async (request) => {
        app.httpCache.tag(request, `product:${request.params.id}`)
        return request.params.id
      },
    )
  })

  it('diagnostics channel: subscribers read the exported OperationContext', () => {
    const channel = tracingChannel<unknown, OperationContext>('stratacache:operation')
    const asyncEnd = (ctx: OperationContext) => {
      expectTypeOf(ctx.cache).toEqualTypeOf<string>()
      expectTypeOf(ctx.key).toEqualTypeOf<string>()
      expectTypeOf(ctx.operation).toBeString()
    }
    expectTypeOf(channel.subscribe).parameter(0).toHaveProperty('asyncEnd')
    expectTypeOf(asyncEnd).toBeFunction()
  })

  it("dashboard: the handler mounts on Fastify's raw request and reply without an annotation gap", () => {
    const mounted = createDashboardHandler({ caches: [cache], basePath: '/ops/cache' })
    const route = (request: FastifyRequest, reply: FastifyReply) => {
      reply.hijack()
      mounted(request.raw, reply.raw)
    }
    expectTypeOf(route).parameters.toEqualTypeOf<[FastifyRequest, FastifyReply]>()
    mounted.close()
  })
})
