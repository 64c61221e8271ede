/**
 * The control API's protocol, declared once per service and shared by the routes and the client: each route's
 * method, path (under the service's prefix), and the zod schemas of its path parameters, query, body and JSON
 * answer. The routes parse requests with the schemas ({@link serveProtocol}); `ControlClient.call` and
 * `ControlClient.service` build requests from them and check answers with them. Which HTTP status an error is
 * answered with is the one table of control-status.ts, for every service.
 *
 * ```ts
 * const echo = defineProtocol('echo', {
 *   say: { method: 'POST', path: '/say', body: z.object({ text: z.string() }), response: z.object({ text: z.string() }) }
 * })
 * daemon.control.register(echo.prefix, async (app) => {
 *   serveProtocol(app, echo, { say: async ({ body }) => ({ text: body.text }) }, { badRequest: (m) => new ControlError('ERR_NODE_CONTROL_BAD_REQUEST', m) })
 * })
 * const { text } = await client.service(echo).say({ body: { text: 'hi' } })
 * ```
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { z } from 'zod'

/** One route of a service. */
export interface RouteSpec {
  readonly method: 'GET' | 'POST'
  /** Path under the service's prefix, fastify syntax (`/entries/:id`; `/` is the prefix itself). */
  readonly path: string
  /** Path parameters, as strings in, parsed by the route. */
  readonly params?: z.ZodType
  /** Query-string parameters (a repeated name arrives as an array of strings). */
  readonly query?: z.ZodType
  /** JSON body. */
  readonly body?: z.ZodType
  /**
   * The JSON answer; the client checks it and returns the daemon's JSON as sent (the schemas do not
   * transform, so key order and unknown fields are kept). Absent for a route that answers with bytes or an
   * NDJSON stream, which the client serves by a method of its own.
   */
  readonly response?: z.ZodType
  /** HTTP status of a success (default 200). */
  readonly status?: number
  /** The client's timeout for the route, ms (0 = none; default the client's per-request timeout). */
  readonly timeoutMs?: number
}

/** A service's routes by method name. */
export type RouteMap = Record<string, RouteSpec>

/** A service's protocol: its prefix (`/v1/<prefix>`, `''` for the daemon's own `/v1` routes) and routes. */
export interface ServiceProtocol<R extends RouteMap = RouteMap> {
  readonly prefix: string
  readonly routes: R
}

/** Declares a service's protocol (types only; the object is returned as given). */
export function defineProtocol<const R extends RouteMap> (prefix: string, routes: R): ServiceProtocol<R> {
  return { prefix, routes }
}

type Part = 'params' | 'query' | 'body'
type SchemaOf<S, K extends string> = S extends { readonly [P in K]: infer T extends z.ZodType } ? T : undefined
type InputPart<S, K extends Part> = SchemaOf<S, K> extends infer T extends z.ZodType
  ? undefined extends z.input<T> ? { [P in K]?: z.input<T> } : { [P in K]: z.input<T> }
  : { [P in K]?: undefined }

/** What a client sends to route `S`: `{ params, query, body }`, each part as its schema takes it. */
export type RouteInput<S> = InputPart<S, 'params'> & InputPart<S, 'query'> & InputPart<S, 'body'>

/** What a route handler of `S` receives: each part as its schema gives it (undefined for a part without schema). */
export interface RouteRequest<S> {
  params: SchemaOf<S, 'params'> extends infer T extends z.ZodType ? z.output<T> : undefined
  query: SchemaOf<S, 'query'> extends infer T extends z.ZodType ? z.output<T> : undefined
  body: SchemaOf<S, 'body'> extends infer T extends z.ZodType ? z.output<T> : undefined
  req: FastifyRequest
  reply: FastifyReply
}

/** The JSON answer of route `S` (`never` for a streaming or bytes route). */
export type RouteOutput<S> = SchemaOf<S, 'response'> extends infer T extends z.ZodType ? z.output<T> : never

/** The route names of `R` that answer JSON. */
export type JsonRouteName<R extends RouteMap> = { [K in keyof R & string]: R[K] extends { readonly response: z.ZodType } ? K : never }[keyof R & string]

/**
 * A handler per route: resolves to the route's answer (sent with its `status`), or to the reply itself once
 * it has sent something else (bytes, an NDJSON stream).
 */
export type RouteHandlers<R extends RouteMap> = {
  [K in keyof R]: (request: RouteRequest<R[K]>) => Promise<RouteOutput<R[K]> | FastifyReply>
}

/** The request's failure of a schema, for the service's own error. */
export interface BadRequest {
  part: Part
  issues: z.core.$ZodIssue[]
}

export interface ServeOptions {
  /** The error a request that fails a schema is refused with (its code's status, e.g. 400). */
  badRequest: (failure: BadRequest) => Error
}

/** `path: message; …` of a schema failure; `whole` names the part itself (`(body)`). */
export function issuesText (issues: z.core.$ZodIssue[], whole: string): string {
  return issues.map((i) => `${i.path.join('.') || whole}: ${i.message}`).join('; ')
}

/**
 * Mounts `protocol`'s routes on `app` (the plugin the service registers under its prefix), each request's
 * parameters, query and body parsed by the route's schemas before its handler runs.
 * @throws what `options.badRequest` makes of a request that fails a schema, and what the handler throws.
 */
export function serveProtocol<R extends RouteMap> (app: FastifyInstance, protocol: ServiceProtocol<R>, handlers: RouteHandlers<R>, options: ServeOptions): void {
  for (const [name, spec] of Object.entries(protocol.routes)) {
    const handler = handlers[name] as (request: RouteRequest<RouteSpec>) => Promise<unknown>
    const parse = (part: Part, value: unknown): unknown => {
      const schema = spec[part]
      if (schema === undefined) return undefined
      const r = schema.safeParse(value)
      if (!r.success) throw options.badRequest({ part, issues: r.error.issues })
      return r.data
    }
    app.route({
      method: spec.method,
      url: spec.path,
      handler: async (req, reply) => {
        const request = { params: parse('params', req.params), query: parse('query', req.query), body: parse('body', req.body), req, reply } as RouteRequest<RouteSpec>
        const answer = await handler(request)
        // a streaming handler answers through `reply` itself (and, returning it, awaits its end): its headers are sent
        if (answer === reply || reply.sent || reply.raw.headersSent) return reply
        return await reply.status(spec.status ?? 200).send(answer)
      }
    })
  }
}

/**
 * The URL path and query of a call of `spec` (`/v1/<prefix><path>?…`), each path parameter URI-encoded; query
 * values that are undefined or `false` are left out, arrays repeat the name.
 * @throws Error when a path parameter of `spec.path` is missing from `params` (a programming error).
 */
export function routeUrl (protocol: ServiceProtocol, spec: RouteSpec, params?: unknown, query?: unknown): string {
  const values = (params ?? {}) as Record<string, unknown>
  const path = spec.path.replace(/:([A-Za-z0-9_]+)/g, (_m, name: string) => {
    if (values[name] === undefined) throw new Error(`route ${spec.method} ${spec.path} needs the path parameter ${name}`)
    return encodeURIComponent(String(values[name]))
  })
  const base = protocol.prefix === '' ? '/v1' : `/v1/${protocol.prefix}`
  const q = Object.entries((query ?? {}) as Record<string, unknown>)
    .flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).filter((x) => x !== undefined && x !== false).map((x) => `${k}=${encodeURIComponent(String(x))}`))
    .join('&')
  return `${base}${path === '/' ? '' : path}${q === '' ? '' : `?${q}`}`
}
