namespace js admin

include "store.thrift"

struct Stats {
  1: i64 entries,
  2: optional string note,
}

service AdminStore extends store.Store {
  Stats stats(1: optional bool exact),
}
