/** Scales' side of the RPC benchmark: the Bench service loaded from bench/idl/bench.thrift. */
import { loadIdl, type ServiceDesc, type ThriftProtocolKind } from '../../src/protocols/thrift/index.js';
import { IDL_PATH } from './apache.js';

export interface Item {
  id: bigint;
  name: string;
  values: number[];
  flag: boolean;
}
export interface BenchClient {
  echo(item: Item): Promise<Item>;
}
export interface BenchHandler {
  echo(item: Item): Item;
}

export async function loadBenchService(): Promise<ServiceDesc<BenchClient, BenchHandler>> {
  const mod = await loadIdl(IDL_PATH);
  const svc = mod.services['Bench'];
  if (svc === undefined) throw new Error(`${IDL_PATH} declares no service Bench`);
  return svc as ServiceDesc<BenchClient, BenchHandler>;
}

export function scalesProtocol(protocol: string): ThriftProtocolKind {
  if (protocol === 'binary' || protocol === 'compact') return protocol;
  throw new Error(`unknown protocol '${protocol}'`);
}
