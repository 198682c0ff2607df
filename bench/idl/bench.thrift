// The RPC benchmark's service: one small struct (about 95 bytes in TBinaryProtocol) echoed back.
struct Item {
  1: i64 id,
  2: string name,
  3: list<i32> values,
  4: bool flag,
}

service Bench {
  Item echo(1: Item item)
}
