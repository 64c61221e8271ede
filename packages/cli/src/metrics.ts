/**
 * A release's evaluation as the CLI shows it: test accuracy for a classifier, held-out perplexity (e^loss, the loss in
 * nats per token) for a language model.
 */

type Metrics = Record<string, unknown> | undefined

/** The metric column of a table of releases: `perplexity` when some release has one and none has an accuracy, else `accuracy`. */
export function metricColumn (rows: readonly Metrics[]): 'accuracy' | 'perplexity' {
  const has = (k: string): boolean => rows.some((m) => typeof m?.[k] === 'number')
  return has('perplexity') && !has('accuracy') ? 'perplexity' : 'accuracy'
}

/** A release's value in `column`: accuracy as a percentage with two decimals, perplexity with three; `-` when it has none. */
export function metricCell (m: Metrics, column: 'accuracy' | 'perplexity'): string {
  const v = m?.[column]
  if (typeof v !== 'number') return '-'
  return column === 'accuracy' ? `${(v * 100).toFixed(2)} %` : v.toFixed(3)
}

/** A release's evaluation in words: `test accuracy 91.20 %`, or `held-out perplexity 3.112 (loss 1.1353 nats/token)`. */
export function metricText (m: Metrics): string {
  if (typeof m?.perplexity === 'number' && typeof m.accuracy !== 'number') return `held-out perplexity ${metricCell(m, 'perplexity')}${typeof m.loss === 'number' ? ` (loss ${m.loss.toFixed(4)} nats/token)` : ''}`
  return `test accuracy ${metricCell(m, 'accuracy')}`
}
