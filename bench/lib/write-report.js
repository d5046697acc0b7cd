// The `write` group's table and goals (issue 17), printed by bench/run.js. The formatting helpers
// and `goal` come from the runner, so the figures read like every other group's.

const IMPLS = ['raw-ioredis', 'strata-ioredis', 'raw-redis', 'strata-redis', 'bento']
const NAMES = {
  'raw-ioredis': 'raw ioredis SET … PX / DEL',
  'strata-ioredis': 'stratacache (ioredis), L1 + L2, bus on',
  'raw-redis': 'raw node-redis SET { PX } / DEL',
  'strata-redis': 'stratacache (node-redis), L1 + L2, bus on',
  bento: 'BentoCache (ioredis), L1 + L2 + bus',
}

export function reportWrite(r, { title, table, fmtTime, fmtRate, fmtRatio, spread, paired, goal, loadavg }) {
  const m = (impl, name) => r[impl]?.measurements[name]
  const rate = (impl, name) => (m(impl, name) ? 1e9 / m(impl, name).median : undefined)
  const cell = (impl, name) => (m(impl, name) ? `${fmtRate(rate(impl, name))} ${spread(m(impl, name))}` : '')
  const rows = IMPLS.filter((impl) => r[impl]).map((impl) => {
    const seq = m(impl, 'set sequential')
    const c = r[impl].commands
    const perSet = c
      ? Object.entries(c)
          .filter(([k]) => k !== 'sets')
          .map(([k, v]) => `${k} ${(v / c.sets).toFixed(v / c.sets < 0.1 ? 3 : 2)}`)
          .join(', ')
      : ''
    return [
      NAMES[impl],
      seq ? `${fmtTime(seq.median)} ${spread(seq)}` : '',
      cell(impl, 'set'),
      cell(impl, 'delete'),
      cell(impl, 'invalidateTags'),
      perSet,
    ]
  })
  console.log(`Writes — ${title}`)
  console.log(
    table(
      [
        'implementation',
        'set, sequential',
        'set, 64 in flight',
        'delete, 64',
        'invalidateTags (1 tag), 64',
        'Redis commands per set',
      ],
      rows,
    ),
  )
  console.log(
    `  load average now: ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')} (delete of the raw clients is DEL)`,
  )
  // Throughput ratios: the per-round ratio of the other's ns/op to ours (round r of each ran in one rotation).
  const faster = (impl, name, base, baseName) => paired(m(base, baseName), m(impl, name))
  for (const [client, raw] of [
    ['ioredis', 'raw-ioredis'],
    ['redis', 'raw-redis'],
  ]) {
    const strata = `strata-${client}`
    for (const op of ['set', 'delete']) {
      goal(
        `W-${client}-${op}`,
        `${op} (L1 + L2, bus on), 64 in flight ≥ 1.5× raw ${client} SET PX`,
        faster(strata, op, raw, 'set'),
        'min',
        1.5,
        `${fmtRate(rate(strata, op))} vs ${fmtRate(rate(raw, 'set'))}${op === 'delete' ? ' (rounds of two measurements)' : ''}`,
      )
    }
  }
  for (const op of ['set', 'delete']) {
    goal(
      `W-bento-${op}`,
      `${op} (ioredis), 64 in flight ≥ 2× BentoCache set`,
      faster('strata-ioredis', op, 'bento', 'set'),
      'min',
      2,
      `${fmtRate(rate('strata-ioredis', op))} vs ${fmtRate(rate('bento', 'set'))}`,
    )
  }
  goal(
    'W-latency',
    'sequential set ≤ 1.2× one raw ioredis SET round trip',
    paired(m('strata-ioredis', 'set sequential'), m('raw-ioredis', 'set sequential')),
    'max',
    1.2,
    `${fmtTime(m('strata-ioredis', 'set sequential')?.median)} vs ${fmtTime(m('raw-ioredis', 'set sequential')?.median)}`,
  )
  goal(
    'W-latency-redis',
    'sequential set (node-redis) ≤ 1.2× one raw node-redis SET round trip',
    paired(m('strata-redis', 'set sequential'), m('raw-redis', 'set sequential')),
    'max',
    1.2,
    `${fmtTime(m('strata-redis', 'set sequential')?.median)} vs ${fmtTime(m('raw-redis', 'set sequential')?.median)}`,
  )
  void fmtRatio
  console.log('')
}
