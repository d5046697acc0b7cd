import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type Sqlite from 'better-sqlite3'
import { Random } from '../../simulation/random.js'

/** A product as the origin returns it (and the cache stores it). */
export interface Product {
  id: number
  categoryId: number
  sku: string
  name: string
  description: string
  priceCents: number
  stock: number
  rating: number
  updatedAt: number
}

/** One row of a category page. */
export interface ProductSummary {
  id: number
  name: string
  priceCents: number
}

/** Products per category page; the workload reads pages 1..PAGES_PER_CATEGORY. */
export const PAGE_SIZE = 20

/** Where each product sits: used to know which category page a price change affects. */
export interface CatalogLayout {
  /** categoryOf[id] is the product's category id (index 0 is unused). */
  readonly categoryOf: Int32Array
  /** rankInCategory[id] is the product's 0-based position in its category, ordered by id. */
  readonly rankInCategory: Int32Array
}

export interface Catalog {
  readonly path: string
  readonly products: number
  readonly categories: number
  /** True when this run built the file; false when an existing one was reused. */
  readonly created: boolean
  /** Time spent building (0 when reused). */
  readonly buildMs: number
  getProduct(id: number): Product | undefined
  getCategoryPage(categoryId: number, page: number): ProductSummary[]
  updatePrice(id: number, priceCents: number, updatedAt: number): void
  /** The price the database holds now, from a mirror that updatePrice keeps in step (no query). */
  priceOf(id: number): number | undefined
  /** Reloads the mirror behind priceOf, after other processes updated prices. */
  reloadPrices(): void
  layout(): CatalogLayout
  close(): void
}

// Bump when the schema or the generated data change, so old files are not reused.
const SCHEMA_VERSION = 1
// The catalog's contents are fixed (they do not depend on --seed), so one file serves every run.
const CATALOG_SEED = 0x5eed

/** `$XDG_CACHE_HOME/stratacache`, or `<tmpdir>/stratacache-demo`. */
export function defaultCatalogDir(env: NodeJS.ProcessEnv): string {
  const xdg = env.XDG_CACHE_HOME
  return xdg !== undefined && xdg !== '' ? join(xdg, 'stratacache') : join(tmpdir(), 'stratacache-demo')
}

export function catalogPath(dir: string, products: number, categories: number): string {
  return join(dir, `catalog-v${SCHEMA_VERSION}-${products}p-${categories}c.sqlite`)
}

/**
 * Opens the catalog for `products`/`categories` in `dir`, building it first if the file is missing
 * or does not hold exactly that many rows.
 */
/**
 * better-sqlite3 serves the demo alone (an optional peer dependency; a dev dependency of this
 * repository): loaded when a catalog opens, so that installing the library compiles nothing.
 */
function loadSqlite(): typeof Sqlite {
  try {
    return createRequire(import.meta.url)('better-sqlite3') as typeof Sqlite
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'MODULE_NOT_FOUND') throw error
    throw new Error(
      "the demo's catalog needs the SQLite driver better-sqlite3, which is not installed: run `npm install better-sqlite3@12`.",
    )
  }
}

export function openCatalog(options: {
  dir: string
  products: number
  categories: number
  onBuild?: (path: string) => void
  /**
   * Other processes update prices too (the multi-process L1 + L2 run): the staleness audit then
   * asks SQLite for the current price, since this process's mirror would not see their updates.
   */
  sharedWrites?: boolean
}): Catalog {
  const { dir, products, categories } = options
  const Database = loadSqlite()
  const path = catalogPath(dir, products, categories)
  let created = false
  let buildMs = 0
  if (!isComplete(Database, path, products, categories)) {
    options.onBuild?.(path)
    mkdirSync(dir, { recursive: true })
    removeDatabase(path)
    const started = performance.now()
    build(Database, path, products, categories)
    buildMs = performance.now() - started
    created = true
  }

  const db = new Database(path)
  // Writes during the demo should cost what an UPDATE costs, not an fsync each.
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  const getProduct = db.prepare<[number], Product>(
    `SELECT id, category_id AS categoryId, sku, name, description, price_cents AS priceCents,
            stock, rating, updated_at AS updatedAt
       FROM products WHERE id = ?`,
  )
  const getPage = db.prepare<[number, number, number], ProductSummary>(
    `SELECT id, name, price_cents AS priceCents FROM products
      WHERE category_id = ? ORDER BY id LIMIT ? OFFSET ?`,
  )
  const updatePrice = db.prepare<[number, number, number]>(
    'UPDATE products SET price_cents = ?, updated_at = ? WHERE id = ?',
  )
  // The staleness audit compares every product read with the current price: a mirror kept in step
  // by updatePrice answers that without a query (which would cost as much as the read measured).
  const currentPrice = db.prepare<[number], [number]>('SELECT price_cents FROM products WHERE id = ?').raw()
  const prices = new Int32Array(products + 1)
  const reloadPrices = (): void => {
    for (const [id, price] of db
      .prepare<[], [number, number]>('SELECT id, price_cents FROM products')
      .raw()
      .iterate()) {
      prices[id] = price
    }
  }
  reloadPrices()

  return {
    path,
    products,
    categories,
    created,
    buildMs,
    getProduct: (id) => getProduct.get(id),
    getCategoryPage: (categoryId, page) => getPage.all(categoryId, PAGE_SIZE, (page - 1) * PAGE_SIZE),
    updatePrice: (id, priceCents, updatedAt) => {
      updatePrice.run(priceCents, updatedAt, id)
      prices[id] = priceCents
    },
    reloadPrices,
    priceOf:
      options.sharedWrites === true
        ? (id) => (currentPrice.get(id) as [number] | undefined)?.[0]
        : (id) => prices[id],
    layout: () => {
      const categoryOf = new Int32Array(products + 1)
      const rankInCategory = new Int32Array(products + 1)
      const rows = db
        .prepare<[], [number, number]>('SELECT id, category_id FROM products ORDER BY category_id, id')
        .raw()
        .all()
      let current = -1
      let rank = 0
      for (const [id, categoryId] of rows) {
        if (categoryId !== current) {
          current = categoryId
          rank = 0
        }
        categoryOf[id] = categoryId
        rankInCategory[id] = rank++
      }
      return { categoryOf, rankInCategory }
    },
    close: () => db.close(),
  }
}

function isComplete(Database: typeof Sqlite, path: string, products: number, categories: number): boolean {
  if (!existsSync(path)) return false
  let db: Sqlite.Database | undefined
  try {
    db = new Database(path, { readonly: true, fileMustExist: true })
    const row = db
      .prepare<[], { schema: string | null; products: number; maxId: number | null; categories: number }>(
        `SELECT (SELECT value FROM meta WHERE key = 'schema') AS schema,
                (SELECT count(*) FROM products) AS products,
                (SELECT max(id) FROM products) AS maxId,
                (SELECT count(*) FROM categories) AS categories`,
      )
      .get()
    return (
      row !== undefined &&
      row.schema === String(SCHEMA_VERSION) &&
      row.products === products &&
      row.maxId === products &&
      row.categories === categories
    )
  } catch {
    return false // unreadable, half-written or from another schema: rebuild it
  } finally {
    db?.close()
  }
}

function removeDatabase(path: string): void {
  for (const suffix of ['', '-wal', '-shm', '-journal']) rmSync(path + suffix, { force: true })
}

const CATEGORY_NAMES = (
  'Books Electronics Garden Kitchen Toys Sports Outdoor Music Movies Games Office Pets Baby ' +
  'Beauty Health Automotive Tools Lighting Furniture Bedding Bath Jewelry Watches Shoes Bags ' +
  'Luggage Cameras Phones Computers Audio Software Crafts Fabric Party Grocery Coffee Tea Wine ' +
  'Snacks Cleaning Storage Appliances Heating Cooling Plumbing Paint Flooring Hardware Camping ' +
  'Cycling'
).split(' ')
const ADJECTIVES = (
  'Compact Deluxe Ergonomic Classic Portable Smart Rugged Sleek Vintage Eco Premium Essential ' +
  'Modular Wireless Handmade Heavy-Duty Lightweight Foldable'
).split(' ')
const MATERIALS = 'Steel Oak Bamboo Cotton Leather Ceramic Glass Wool Carbon Linen'.split(' ')
const NOUNS = (
  'Lamp Chair Kettle Backpack Speaker Notebook Jacket Bottle Blender Tent Keyboard Mug Drill ' +
  'Puzzle Helmet Scarf Clock Pan Shelf Headphones'
).split(' ')

function pick<T>(items: readonly T[], random: () => number): T {
  return items[Math.floor(random() * items.length)] as T
}

/** Builds into a temporary file and renames it into place, so a reader never sees half a catalog. */
function build(Database: typeof Sqlite, path: string, products: number, categories: number): void {
  const temporary = `${path}.tmp-${process.pid}`
  removeDatabase(temporary)
  const db = new Database(temporary)
  try {
    db.pragma('journal_mode = OFF')
    db.pragma('synchronous = OFF')
    db.exec(`
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE categories (id INTEGER PRIMARY KEY, name TEXT NOT NULL, slug TEXT NOT NULL UNIQUE);
      CREATE TABLE products (
        id INTEGER PRIMARY KEY,
        category_id INTEGER NOT NULL REFERENCES categories(id),
        sku TEXT NOT NULL,
        name TEXT NOT NULL,
        description TEXT NOT NULL,
        price_cents INTEGER NOT NULL,
        stock INTEGER NOT NULL,
        rating REAL NOT NULL,
        updated_at INTEGER NOT NULL
      );
    `)
    const insertCategory = db.prepare('INSERT INTO categories (id, name, slug) VALUES (?, ?, ?)')
    const insertProduct = db.prepare(
      `INSERT INTO products (id, category_id, sku, name, description, price_cents, stock, rating, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    const rng = new Random(CATALOG_SEED)
    const random = (): number => rng.next()
    const createdAt = Date.UTC(2025, 0, 1)
    db.transaction(() => {
      for (let id = 1; id <= categories; id++) {
        const base = CATEGORY_NAMES[(id - 1) % CATEGORY_NAMES.length] as string
        const round = Math.floor((id - 1) / CATEGORY_NAMES.length)
        const name = round === 0 ? base : `${base} ${round + 1}`
        insertCategory.run(id, name, name.toLowerCase().replace(/\s+/g, '-'))
      }
      for (let id = 1; id <= products; id++) {
        // The first products go one per category so that no category is empty; the rest at random.
        const categoryId = id <= categories ? id : 1 + Math.floor(random() * categories)
        const name = `${pick(ADJECTIVES, random)} ${pick(MATERIALS, random)} ${pick(NOUNS, random)}`
        const description = `${name} from our ${CATEGORY_NAMES[(categoryId - 1) % CATEGORY_NAMES.length]} range. Ships in ${1 + Math.floor(random() * 5)} days; ${Math.floor(random() * 24) + 1}-month warranty.`
        insertProduct.run(
          id,
          categoryId,
          `SKU-${String(id).padStart(7, '0')}`,
          name,
          description,
          99 + Math.floor(random() * 99_900),
          Math.floor(random() * 500),
          Math.round((1 + random() * 4) * 10) / 10,
          createdAt,
        )
      }
    })()
    db.exec('CREATE INDEX products_by_category ON products (category_id, id)')
    db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)').run('schema', String(SCHEMA_VERSION))
    db.close()
    renameSync(temporary, path)
  } catch (error) {
    if (db.open) db.close()
    removeDatabase(temporary)
    throw error
  }
}
