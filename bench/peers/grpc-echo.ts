/**
 * @grpc/grpc-js unary echo for the RPC benchmarks, with no .proto: a hand-written service
 * definition whose messages are the bench Item as JSON (`id` as a decimal string). One channel.
 */
import * as grpc from '@grpc/grpc-js';

export interface GrpcItem {
  id: bigint;
  name: string;
  values: number[];
  flag: boolean;
}

const serialize = (item: GrpcItem): Buffer => Buffer.from(JSON.stringify({ id: item.id.toString(), name: item.name, values: item.values, flag: item.flag }));
const deserialize = (buf: Buffer): GrpcItem => {
  const o = JSON.parse(buf.toString('utf8')) as { id: string; name: string; values: number[]; flag: boolean };
  return { id: BigInt(o.id), name: o.name, values: o.values, flag: o.flag };
};

const definition: grpc.ServiceDefinition = {
  echo: {
    path: '/scales.bench.Bench/Echo',
    requestStream: false,
    responseStream: false,
    requestSerialize: serialize,
    requestDeserialize: deserialize,
    responseSerialize: serialize,
    responseDeserialize: deserialize,
  },
};

export async function serveGrpcEcho(): Promise<number> {
  const server = new grpc.Server();
  server.addService(definition, {
    echo: (call: grpc.ServerUnaryCall<GrpcItem, GrpcItem>, done: grpc.sendUnaryData<GrpcItem>) => done(null, call.request),
  });
  return new Promise((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))));
}

export interface GrpcEchoClient {
  echo(item: GrpcItem): Promise<GrpcItem>;
  close(): void;
}

export function connectGrpcEcho(port: number): GrpcEchoClient {
  const Client = grpc.makeGenericClientConstructor(definition, 'Bench');
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
    echo(item: GrpcItem, cb: (err: grpc.ServiceError | null, reply?: GrpcItem) => void): void;
  };
  return {
    echo: (item) => new Promise((resolve, reject) => client.echo(item, (err, reply) => (err ? reject(err) : resolve(reply!)))),
    close: () => client.close(),
  };
}
