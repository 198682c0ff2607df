/** Scales' side of the RPC benchmark: the Bench service loaded from bench/idl/bench.thrift. */
import type { ServiceDesc, ThriftProtocolKind } from '../../src/protocols/thrift/index.js';
import { IDL_PATH } from './apache.js';
import type { ScalesModules } from './runtime.js';

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
  echo(item: Item): Item | Promise<Item>;
}

export async function loadBenchService(m: ScalesModules): Promise<ServiceDesc<BenchClient, BenchHandler>> {
  const mod = await m.thrift.loadIdl(IDL_PATH);
  const svc = mod.services['Bench'];
  if (svc === undefined) throw new Error(`${IDL_PATH} declares no service Bench`);
  return svc as ServiceDesc<BenchClient, BenchHandler>;
}

export function scalesProtocol(protocol: string): ThriftProtocolKind {
  if (protocol === 'binary' || protocol === 'compact') return protocol;
  throw new Error(`unknown protocol '${protocol}'`);
}
