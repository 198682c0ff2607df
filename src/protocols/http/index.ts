import { HttpClientBuilder, type HttpClient, type HttpClientOptions } from './client.js';
import type { ServerSet } from '../../discovery/serverset.js';

/**
 * Entry point, the same shape as every Scales protocol:
 *   const client = Http.newClient('tcp://10.0.0.1:8080,10.0.0.2:8080', { timeout: 500 });
 *   const res = await client.get('/health');
 */
export const Http = {
  newClient(dest: string | ServerSet, options?: HttpClientOptions): HttpClient {
    return new HttpClientBuilder(options).build(dest);
  },
  newBuilder(options?: HttpClientOptions): HttpClientBuilder {
    return new HttpClientBuilder(options);
  },
};

export { HttpClient, HttpClientBuilder, HTTP_DEFAULT_POOL, type HttpCallOptions, type HttpClientOptions, type HttpRequestBody } from './client.js';
export { HttpResponse, type HttpBody, type HttpMethod, type HttpRequest } from './messages.js';
export type { CallOptions } from '../../core/context.js';
export { TlsError, type TlsFailure, type TlsClientOptions, type TlsServerOptions } from '../../transport/tls.js';
export * from '../../client/extend.js';
