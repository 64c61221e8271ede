/**
 * Error feedback for lossy delta codecs (Seide et al. 2014, "1-Bit Stochastic Gradient Descent"; Karimireddy
 * et al. 2019, "Error Feedback Fixes SignSGD"): the client keeps what compression dropped and adds it to
 * its next delta, so nothing is lost for good, only delayed.
 *   corrected = delta + residual;  sent = decode(encode(corrected));  residual ← corrected − sent
 */
import { createModelSpec, zeros, type ModelSpec } from '../spec.js'
import { InvalidConfigError } from '../errors.js'
import { decodeDelta, encodeDelta, validateCodecOptions, type CodecOptions } from './codecs.js'

/** One client's error-feedback memory for one codec. Memory: 4 bytes × params (the residual). */
export class ErrorFeedback {
  readonly spec: ModelSpec
  readonly options: CodecOptions
  private residualTensors: Float32Array[]

  /**
   * @param residual a residual carried over from an earlier run (copied), laid out as `spec`; default zero.
   * @throws InvalidConfigError for bad codec options or a residual not laid out as `spec`.
   */
  constructor (spec: ModelSpec, options: CodecOptions, residual?: readonly Float32Array[]) {
    validateCodecOptions(options)
    this.spec = createModelSpec(spec.shapes)
    this.options = options
    if (residual !== undefined && (residual.length !== spec.sizes.length || residual.some((r, t) => r.length !== spec.sizes[t]))) {
      throw new InvalidConfigError('the carried residual is not laid out as the model spec')
    }
    this.residualTensors = residual?.map((r) => Float32Array.from(r)) ?? zeros(spec)
  }

  /** What compression has dropped so far and will add to the next delta (a copy). */
  get residual (): Float32Array[] {
    return this.residualTensors.map((r) => Float32Array.from(r))
  }

  /**
   * Encodes `delta` plus the carried residual and keeps the new residual.
   * @returns the encoded bytes and what the receiver will decode from them.
   * @throws CodecError as `encodeDelta` (the residual is left unchanged then).
   */
  encode (delta: readonly Float32Array[]): { bytes: Uint8Array, sent: Float32Array[] } {
    const corrected = delta.map((d, t) => {
      const r = this.residualTensors[t]
      const c = new Float32Array(d.length)
      for (let i = 0; i < d.length; i++) c[i] = d[i] + (r === undefined ? 0 : r[i])
      return c
    })
    const bytes = encodeDelta(corrected, this.spec, this.options)
    const sent = decodeDelta(bytes, { spec: this.spec }).tensors
    this.residualTensors = corrected.map((c, t) => {
      const s = sent[t]
      for (let i = 0; i < c.length; i++) c[i] -= s[i]
      return c
    })
    return { bytes, sent }
  }
}
