// A minimal NestJS app with @nestjs/cache-manager's CacheInterceptor over stratacache/keyv,
// exercised over real HTTP. The decorators are applied as functions (the project compiles without
// `experimentalDecorators`): `Controller('products')(ProductsController)` is what
// `@Controller('products') class ProductsController` compiles to.
import 'reflect-metadata'
import { CacheInterceptor, CacheModule } from '@nestjs/cache-manager'
import { Controller, Get, type INestApplication, Module, Param, UseInterceptors } from '@nestjs/common'
import { NestFactory } from '@nestjs/core'
import Keyv from 'keyv'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Cache, createCache } from '../../dist/index.js'
import { sharedKeyvOptions } from '../../dist/keyv/index.js'
import { uniqueNamespace, useRedisServer } from '../helpers/redis-server.js'

const server = useRedisServer()

/** Every call that reached the route's handler, by product id. */
const handled: string[] = []

class ProductsController {
  find(id: string) {
    handled.push(id)
    return { id, name: `product ${id}`, handledAt: handled.length }
  }
}
Controller('products')(ProductsController)
UseInterceptors(CacheInterceptor)(ProductsController)
const find = Object.getOwnPropertyDescriptor(ProductsController.prototype, 'find')
if (find === undefined) throw new Error('ProductsController.find is missing')
Get(':id')(ProductsController.prototype, 'find', find)
Param('id')(ProductsController.prototype, 'find', 0)

/**
 * `stores` as CacheModule types it. @nestjs/cache-manager is CommonJS, so TypeScript types its Keyv
 * from keyv's CommonJS declarations and this file's from the ES ones: one class at run time, two
 * declarations (with private fields) that TypeScript will not equate.
 */
type NestStores = NonNullable<NonNullable<Parameters<typeof CacheModule.register>[0]>['stores']>

/** The app's module: CacheModule's store is a Keyv over the stratacache instance. */
function appModule(cache: Cache) {
  class AppModule {}
  const stores = [new Keyv(sharedKeyvOptions(cache))] as unknown as NestStores
  Module({
    imports: [CacheModule.register({ stores })],
    controllers: [ProductsController],
  })(AppModule)
  return AppModule
}

describe('@nestjs/cache-manager: CacheInterceptor over stratacache/keyv (L1 + Redis L2)', () => {
  let cache: Cache
  let app: INestApplication
  let base: string

  beforeAll(async () => {
    cache = createCache({ namespace: uniqueNamespace('nest'), l2: { redis: server().url } })
    await cache.ready()
    app = await NestFactory.create(appModule(cache), { logger: false })
    await app.listen(0, '127.0.0.1')
    base = await app.getUrl()
  })
  afterAll(async () => {
    await app?.close()
    await cache?.close()
  })

  it('the second GET of a route is answered from the cache: the handler ran once', async () => {
    const first = await fetch(`${base}/products/1`)
    expect(first.status).toBe(200)
    const body = await first.json()
    expect(body).toEqual({ id: '1', name: 'product 1', handledAt: 1 })
    const second = await fetch(`${base}/products/1`)
    expect(second.status).toBe(200)
    expect(await second.json()).toEqual(body)
    expect(handled).toEqual(['1'])
  })

  it('the interceptor’s entry is the stratacache instance’s: cache.get reads it, and a cache.set answers the route', async () => {
    await fetch(`${base}/products/3`)
    // The interceptor keys a GET by its URL.
    expect(await cache.get('/products/3')).toEqual({
      id: '3',
      name: 'product 3',
      handledAt: expect.any(Number),
    })
    await cache.set('/products/4', { id: '4', name: 'set through stratacache' })
    const response = await fetch(`${base}/products/4`)
    expect(await response.json()).toEqual({ id: '4', name: 'set through stratacache' })
    expect(handled).not.toContain('4')
  })

  it('a delete through stratacache (in Redis and every L1) sends the next GET to the handler again', async () => {
    await fetch(`${base}/products/5`)
    await cache.delete('/products/5')
    await fetch(`${base}/products/5`)
    expect(handled.filter((id) => id === '5')).toHaveLength(2)
  })
})
