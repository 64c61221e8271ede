export { buildProgram, main } from './main.js'
export { durationOption, formatMs, parseDuration, DURATION_UNITS_MS } from './options.js'
