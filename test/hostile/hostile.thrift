// The service the hostile suite attacks (test/hostile/). Containers of empty structs are the
// worst case for decode amplification: one byte on the wire, an object in memory.
struct Empty {}

service Hostile {
  string echo(1: string s)
  i32 takeList(1: list<Empty> items)
  i32 takeMap(1: map<i32, Empty> items)
  i32 takeSet(1: set<i32> items)
  i32 takeNested(1: list<list<Empty>> items)
  i32 wait(1: i32 ms)
  oneway void fire(1: i32 ms)
}
