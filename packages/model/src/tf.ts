/**
 * The one place the package imports tfjs. Production mode silences tfjs' console hints (e.g. the cpu backend's
 * "install the node backend" banner); the backend choice and its reason are reported by `probeBackends` instead.
 */
import * as tf from '@tensorflow/tfjs'

tf.env().set('PROD', true)

export { tf }
