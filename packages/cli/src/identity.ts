/**
 * One form for identities in the CLI's output, two accepted as input. A node's identity is an Ed25519 key; the
 * network names it by its libp2p peer id (`12D3KooW…`, what `status`, `peers`, `round status` and `release`
 * print) and the ledger stores the raw 32-byte public key (64 hex digits in `ledger export` and every `--json`
 * entry). The CLI prints peer ids in its text output and takes either form wherever it takes an identity.
 */
import { InvalidArgumentError } from 'commander'
import { keyHex, maintainerKeyOf, peerIdOfKey } from '@swarmtune/rounds'

const HEX_KEY = /^[0-9a-fA-F]{64}$/

/**
 * The peer id (`12D3KooW…`, 52 characters) of a ledger author key given as 64 hex digits; anything else is
 * returned unchanged (so a value that is already a peer id, or a placeholder such as `-`, prints as is).
 */
export function peerIdText (author: unknown): string {
  if (typeof author !== 'string' || !HEX_KEY.test(author)) return String(author ?? '-')
  try {
    return peerIdOfKey(Uint8Array.from(Buffer.from(author, 'hex'))).toString()
  } catch {
    return author
  }
}

/**
 * An identity option or argument as the ledger's author key (64 lowercase hex digits): takes a peer id
 * (`12D3KooW…`, an Ed25519 identity) or the key as 64 hex digits.
 * @throws InvalidArgumentError naming `flag` and both accepted forms (commander prints it with the usage).
 */
export function authorKeyOption (flag: string): (value: string) => string {
  return (value: string): string => {
    if (HEX_KEY.test(value)) return value.toLowerCase()
    try {
      return keyHex(maintainerKeyOf(value))
    } catch {
      throw new InvalidArgumentError(`${flag} takes a peer id (12D3KooW…, as \`swarmtune status\` and \`swarmtune peers\` print it) or an Ed25519 public key as 64 hex digits; got "${value}"`)
    }
  }
}
